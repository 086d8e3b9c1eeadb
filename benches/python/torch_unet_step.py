#!/usr/bin/env python3
"""PyTorch CPU baseline for `train_step/unet_c32_cfm` (benches/training.rs): torchcfm's
UNetModel on 1x8x8 images with 32 channels, channel multipliers (1, 2), one residual block,
attention at 4x4 with 32 channels per head (torchcfm's GroupNorm has 32 groups, so 32 channels
is the smallest it builds), batch 128, CFM target, Adam (lr 1e-3), gradient clipping at 1, EMA
update. Prints the median ms per step and the share of forward, backward and optimiser.

    python3 torch_unet_step.py THREADS

Needs torch and torchcfm (`pip install torch` and `pip install --no-deps torchcfm`, in a venv
outside the repository).
"""
import sys, time, torch
from torchcfm.models.unet.unet import UNetModelWrapper

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
torch.manual_seed(0)
B = 128
net = UNetModelWrapper(dim=(1, 8, 8), num_channels=32, num_res_blocks=1, channel_mult=(1, 2),
                attention_resolutions="4", num_head_channels=32, dropout=0.0)
ema = UNetModelWrapper(dim=(1, 8, 8), num_channels=32, num_res_blocks=1, channel_mult=(1, 2),
                attention_resolutions="4", num_head_channels=32, dropout=0.0)
ema.load_state_dict(net.state_dict())
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
data = torch.randn(1500, 1, 8, 8)
parts = {"forward": 0.0, "backward": 0.0, "optimiser, clipping, EMA": 0.0}


def step(record=False):
    s0 = time.perf_counter()
    x1 = data[torch.randint(0, 1500, (B,))]
    x0 = torch.randn(B, 1, 8, 8)
    t = torch.rand(B)
    xt = (1 - t[:, None, None, None]) * x0 + t[:, None, None, None] * x1
    loss = ((net(t, xt) - (x1 - x0)) ** 2).mean()
    s1 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    s2 = time.perf_counter()
    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
    opt.step()
    with torch.no_grad():
        for pe, p in zip(ema.parameters(), net.parameters()):
            pe.mul_(0.999).add_(p, alpha=0.001)
    s3 = time.perf_counter()
    if record:
        for k, v in zip(parts, (s1 - s0, s2 - s1, s3 - s2)):
            parts[k] += v


for _ in range(5):
    step()
ts = []
for _ in range(5):
    s = time.perf_counter()
    for _ in range(10):
        step(record=True)
    ts.append((time.perf_counter() - s) / 10 * 1e3)
ts.sort()
total = sum(parts.values())
shares = ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in parts.items())
params = sum(p.numel() for p in net.parameters())
print(f"torch {torch.__version__} threads={torch.get_num_threads()} torchcfm UNetModel c32 "
      f"({params} parameters): median {ts[2]:.2f} ms/step (min {ts[0]:.2f}); {shares}")
