//! The hand-written reading guide (`paper/templates/figures.md`): one paragraph per figure, on
//! how to read it, printed under the figure in the report.

use std::collections::BTreeMap;

use crate::{Error, Result};

/// The paragraph of each figure, by figure id.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Guide(BTreeMap<String, String>);

impl Guide {
    /// Parses the guide: text before the first `## ` heading is a preamble (ignored); each
    /// `## <id>` heading is followed by its paragraph, whose lines are joined with spaces.
    /// Every id of `ids` must have exactly one non-empty paragraph, and no other id may appear.
    pub fn parse(text: &str, ids: &[&str]) -> Result<Self> {
        fn finish(entry: Option<(String, Vec<&str>)>, map: &mut BTreeMap<String, String>) -> Result<()> {
            let Some((id, lines)) = entry else { return Ok(()) };
            let paragraph: Vec<&str> = lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty()).collect();
            if paragraph.is_empty() {
                return Err(Error::Template(format!("the reading guide's `## {id}` has no paragraph")));
            }
            if map.insert(id.clone(), paragraph.join(" ")).is_some() {
                return Err(Error::Template(format!("the reading guide has `## {id}` twice")));
            }
            Ok(())
        }
        let mut map = BTreeMap::new();
        let mut current: Option<(String, Vec<&str>)> = None;
        for line in text.lines() {
            if let Some(id) = line.strip_prefix("## ") {
                finish(current.take(), &mut map)?;
                current = Some((id.trim().to_string(), Vec::new()));
            } else if let Some((_, lines)) = current.as_mut() {
                lines.push(line);
            }
        }
        finish(current.take(), &mut map)?;
        if let Some(unknown) = map.keys().find(|k| !ids.contains(&k.as_str())) {
            return Err(Error::Template(format!("the reading guide names `{unknown}`, which is no figure")));
        }
        if let Some(missing) = ids.iter().find(|id| !map.contains_key(**id)) {
            return Err(Error::Template(format!("the reading guide has no paragraph for `{missing}`")));
        }
        Ok(Self(map))
    }

    /// The paragraph of figure `id`.
    pub fn get(&self, id: &str) -> &str {
        self.0.get(id).map_or("", String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::Guide;

    #[test]
    fn paragraphs_are_read_by_id_and_gaps_are_errors() {
        let text = "# Title\npreamble\n\n## a\nfirst line\nsecond line\n\n## b\nonly\n";
        let g = Guide::parse(text, &["a", "b"]).unwrap();
        assert_eq!(g.get("a"), "first line second line");
        assert_eq!(g.get("b"), "only");
        assert!(
            Guide::parse(text, &["a", "b", "c"]).unwrap_err().to_string().contains("no paragraph for `c`")
        );
        assert!(Guide::parse(text, &["a"]).unwrap_err().to_string().contains("`b`, which is no figure"));
        assert!(Guide::parse("## a\n\n## b\nx\n", &["a", "b"]).is_err());
        assert!(Guide::parse("## a\nx\n## a\ny\n", &["a"]).is_err());
    }

    #[test]
    fn the_repository_guide_has_one_paragraph_per_figure() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../paper/templates/figures.md");
        let text = std::fs::read_to_string(path).unwrap();
        let ids: Vec<&str> = cfm_study::figures::all().iter().map(|f| f.id()).collect();
        let guide = Guide::parse(&text, &ids).unwrap();
        for id in ids {
            assert!(!guide.get(id).contains("]("), "the guide's paragraph for {id} holds a link");
        }
    }
}
