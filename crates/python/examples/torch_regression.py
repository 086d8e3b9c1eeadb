"""Regress a small MLP on the exact closed-form velocity in a plain PyTorch training loop.

Flow matching regresses v_theta(x_t, t) on the noisy conditional target x1 - x0; here the target
is the exact optimal velocity u*(x_t, t) of Proposition 1, from `cfm.ClosedForm.velocity`.
Then both the network and the closed form are sampled with Euler, and their samples compared
with the training set: the closed form copies it, the network need not.

    python crates/python/examples/torch_regression.py   # 2000 steps, under a minute on 2 idle cores
"""

import numpy as np
import torch

import cfm


def two_moons(n, rng):
    a = rng.uniform(0, np.pi, n)
    upper = rng.random(n) < 0.5
    x = np.where(upper[:, None], np.c_[np.cos(a), np.sin(a)], np.c_[1 - np.cos(a), 0.5 - np.sin(a)])
    return (x + 0.05 * rng.standard_normal((n, 2))).astype(np.float32)


rng = np.random.default_rng(0)
torch.manual_seed(0)
train = two_moons(200, rng)
field = cfm.ClosedForm(train)  # copies the training set once, for every step below

net = torch.nn.Sequential(
    torch.nn.Linear(3, 128), torch.nn.SiLU(),
    torch.nn.Linear(128, 128), torch.nn.SiLU(),
    torch.nn.Linear(128, 2),
)
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
for step in range(2000):
    x1 = torch.from_numpy(train[rng.integers(0, len(train), 256)])
    x0 = torch.randn_like(x1)
    t = torch.rand(256, 1)  # in [0, 1): u* is never evaluated at t = 1
    xt = (1 - t) * x0 + t * x1
    target = torch.from_numpy(field.velocity(xt.numpy(), t.numpy()))  # exact u*(x_t, t)
    loss = ((net(torch.cat([xt, t], dim=1)) - target) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 1000 == 0 or step == 1999:
        print(f"step {step:4d}  loss {loss.item():.4f}")

# Euler sampling of the network, from the same kind of noise as the closed form's.
steps = 100
with torch.no_grad():
    x = torch.randn(500, 2)
    for k in range(steps):
        t = torch.full((500, 1), k / steps)
        x = x + net(torch.cat([x, t], dim=1)) / steps
net_samples = x.numpy()
cf_samples = cfm.sample(train, 500, steps=steps, seed=0)

for name, s in [("network", net_samples), ("closed form", cf_samples)]:
    mem = cfm.memorization(train, s)
    print(
        f"{name:11s}: energy distance to train {cfm.energy(s, train):.4f}, "
        f"mean d1 {mem.d1.mean():.4f}, copies {100 * mem.fraction_memorized:.0f}%"
    )
