"""HUP with changed `listen` addresses: a new address is opened and served,
an address no longer configured is closed, and an unchanged one keeps its
socket (no connection refused across the reload)."""
import signal
import socket
import time
from harness import Magicd, free_port, check


def serves(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = s.recv(100)
        s.close()
        return data.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def reload_and_wait(srv, old):
    srv.signal(signal.SIGHUP)
    end = time.time() + 10
    while time.time() < end and (set(srv.worker_pids()) & old or len(srv.worker_pids()) < 2):
        time.sleep(0.1)
    time.sleep(0.3)


srv = Magicd(workers=2)
extra_port = free_port()
with srv:
    check(serves(srv.port), "first address")
    # add a second address
    srv.extra = f"listen 127.0.0.1:{extra_port};"  # the base config has srv.port
    srv.write_conf()
    reload_and_wait(srv, set(srv.worker_pids()))
    check(serves(srv.port) and serves(extra_port), "both addresses after adding one")
    # drop the first one (a config of its own, without the harness's listen)
    text = srv.conf_text("").replace(f"listen 127.0.0.1:{srv.port};", f"listen 127.0.0.1:{extra_port};")
    open(srv.conf, "w").write(text)
    reload_and_wait(srv, set(srv.worker_pids()))
    check(serves(extra_port), "the kept address still serves")
    check(not serves(srv.port), "the removed address is closed")
    # a port that cannot be bound: the reload fails, the running config stays
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    busy = blocker.getsockname()[1]
    open(srv.conf, "w").write(text + f"\nlisten 127.0.0.1:{busy};\n")
    before = set(srv.worker_pids())
    srv.signal(signal.SIGHUP)
    time.sleep(1)
    check("reload failed" in srv.log() and "bind()" in srv.log(), "bind failure logged")
    check(set(srv.worker_pids()) == before and serves(extra_port), "old config keeps serving")
    blocker.close()
print("reload listen ok")
