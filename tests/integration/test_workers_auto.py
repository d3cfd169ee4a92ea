"""worker_processes auto on a machine with more CPUs than the 16 workers
the master runs: the figure is 16, so -T and the master's "started" line
say what runs (with 32 CPUs they said 32 while 16 ran). The CPU count is
faked by binding a file over /sys/devices/system/cpu/online in a mount
namespace of its own (needs root and unshare)."""
import os
import shutil
import subprocess
from harness import BIN, Magicd, check, skip

if os.geteuid() != 0 or not shutil.which("unshare"):
    skip("needs root and unshare")
srv = Magicd(workers=1)
online = os.path.join(srv.tmp, "online")
with open(online, "w") as f:
    f.write("0-31\n")
srv.write_conf(srv.extra + "\nworker_processes auto;")
r = subprocess.run(["unshare", "-m", "sh", "-c",
                    f"mount --bind {online} /sys/devices/system/cpu/online && "
                    f"getconf _NPROCESSORS_ONLN && {BIN} -c {srv.conf} -T"],
                   capture_output=True, text=True, timeout=30)
if r.returncode != 0 or not r.stdout.startswith("32"):
    skip(f"cannot fake the CPU count here: {r.returncode} {r.stderr.strip()[:200]}")
check("worker_processes auto; # = 16" in r.stdout,
      f"-T with 32 CPUs: {[x for x in r.stdout.splitlines() if 'worker_processes' in x]}")
print("worker_processes auto: at most 16")
