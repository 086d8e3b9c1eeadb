//! The three scales every figure runs at (see STUDY.md section 4).

use std::fmt;
use std::str::FromStr;

/// How big a run is. The same code path runs at every scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Seconds per figure: what the snapshot tests run.
    Smoke,
    /// Minutes on a 2-core laptop, data that ships with the build: the default of `reproduce`.
    Quick,
    /// The paper's datasets from a data directory, paper-sized networks, GPU when available.
    Paper,
}

impl Profile {
    /// All profiles, smallest first.
    pub const ALL: [Profile; 3] = [Profile::Smoke, Profile::Quick, Profile::Paper];

    /// The profile's name as written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Smoke => "smoke",
            Profile::Quick => "quick",
            Profile::Paper => "paper",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown profile '{s}': use smoke, quick or paper"))
    }
}
