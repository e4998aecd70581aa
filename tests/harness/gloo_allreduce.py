# torch.distributed gloo smoke script for the harness self-test (from shared/docs/multihost/):
# env:// rendezvous (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE); prints "rank R/N host=H ... OK".
import os, socket, time, torch, torch.distributed as dist
t0 = time.time()
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
dist.init_process_group("gloo", rank=rank, world_size=world)   # env:// MASTER_ADDR/MASTER_PORT
t = torch.full((4,), float(rank + 1))
dist.all_reduce(t)
n = int(os.environ.get("BIG_NUMEL", "0"))
if n:
    b = torch.ones(n); dist.all_reduce(b); assert b[0].item() == world
exp = world * (world + 1) / 2
print(f"rank {rank}/{world} host={socket.gethostname()} allreduce={t.tolist()} "
      f"{'OK' if t[0].item() == exp else 'FAIL'} torch={torch.__version__} {time.time()-t0:.2f}s", flush=True)
dist.barrier(); dist.destroy_process_group()
