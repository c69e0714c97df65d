#!/usr/bin/env python3
"""Peak RSS of the operator process under anonymous abuse of the facade (issue 17, item 8).

Starts `nexus-operator dev --embedded` (controller, facade, metrics server, the embedded
Kubernetes API and Auth0 simulator: one process) on loopback, once per scenario, and drives:

  basic   N connections, each sending bad Basic requests (random username and password) back
          to back for --seconds, from N distinct loopback source addresses (127.0.x.y), so that
          the per-address failed-login limit does not shield the facade by itself;
  abort   as basic, but every connection closes right after sending its request (the request
          is cancelled while its password may be being verified);
  slow    N connections that send a request head one byte a second for --seconds.

It prints the answers seen and the process's peak RSS (VmHWM) per scenario. Loopback only,
bounded in time. Not a test: numbers go to docs/benchmarks.md.

  hack/bench-facade-abuse.py --binary target/debug/nexus-operator [--connections 1000]
                             [--seconds 30] [--scenario basic|abort|slow|all]
"""

import argparse
import asyncio
import base64
import collections
import os
import random
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.request

FACADE = ("127.0.0.1", 18181)
METRICS = ("127.0.0.1", 18180)
SIM = ("127.0.0.1", 18189)


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def start(binary, state_dir):
    env = dict(os.environ)
    env.setdefault("RUST_LOG", "warn")
    args = [
        binary, "dev", "--embedded",
        "--state-dir", state_dir,
        "--facade-addr", f"{FACADE[0]}:{FACADE[1]}",
        "--metrics-addr", f"{METRICS[0]}:{METRICS[1]}",
        "--sim-listen", f"{SIM[0]}:{SIM[1]}",
    ]
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        if process.poll() is not None:
            sys.exit(f"the operator exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://{FACADE[0]}:{FACADE[1]}/healthz", timeout=1):
                return process
        except OSError:
            time.sleep(0.5)
    process.kill()
    sys.exit("the facade did not come up in 120 s")


def random_text(n):
    return "".join(random.choice(string.ascii_letters + string.digits) for _ in range(n))


async def aborted_basic(index, stop_at, answers):
    source = (f"127.0.{1 + index // 250}.{1 + index % 250}", 0)
    while time.monotonic() < stop_at:
        try:
            _, writer = await asyncio.open_connection(*FACADE, local_addr=source)
        except OSError as error:
            answers[f"connect error {error.errno}"] += 1
            await asyncio.sleep(0.1)
            continue
        credentials = base64.b64encode(f"{random_text(12)}:{random_text(16)}".encode()).decode()
        writer.write(
            (
                "GET /v1/tenants/dev/clients/abc HTTP/1.1\r\n"
                f"Host: {FACADE[0]}\r\nAuthorization: Basic {credentials}\r\n\r\n"
            ).encode()
        )
        try:
            await writer.drain()
            answers["sent and closed"] += 1
        except OSError:
            answers["reset"] += 1
        writer.close()
        await asyncio.sleep(0.05)


async def bad_basic(index, stop_at, answers):
    source = (f"127.0.{1 + index // 250}.{1 + index % 250}", 0)
    while time.monotonic() < stop_at:
        try:
            reader, writer = await asyncio.open_connection(*FACADE, local_addr=source)
        except OSError as error:
            answers[f"connect error {error.errno}"] += 1
            await asyncio.sleep(0.1)
            continue
        try:
            while time.monotonic() < stop_at:
                credentials = base64.b64encode(f"{random_text(12)}:{random_text(16)}".encode()).decode()
                writer.write(
                    (
                        "GET /v1/tenants/dev/clients/abc HTTP/1.1\r\n"
                        f"Host: {FACADE[0]}\r\nAuthorization: Basic {credentials}\r\n\r\n"
                    ).encode()
                )
                await writer.drain()
                status_line = await reader.readline()
                if not status_line:
                    answers["closed"] += 1
                    break
                answers[status_line.split()[1].decode()] += 1
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError):
            answers["reset"] += 1
        finally:
            writer.close()


async def slow_headers(stop_at, answers):
    try:
        reader, writer = await asyncio.open_connection(*FACADE)
    except OSError as error:
        answers[f"connect error {error.errno}"] += 1
        return
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100_000
    sent = 0
    try:
        while time.monotonic() < stop_at:
            writer.write(head[sent:sent + 1])
            sent += 1
            await writer.drain()
            try:
                data = await asyncio.wait_for(reader.read(1024), timeout=1.0)
            except asyncio.TimeoutError:
                continue
            answers["closed by the server" if not data else "answered"] += 1
            return
        answers["still open at the end"] += 1
    except OSError:
        answers["closed by the server"] += 1
    finally:
        writer.close()


async def sample(pid, stop_at, peak):
    while time.monotonic() < stop_at:
        peak[0] = max(peak[0], rss_kib(pid, "VmRSS"))
        await asyncio.sleep(0.2)


async def drive(scenario, pid, connections, seconds):
    answers = collections.Counter()
    peak = [0]
    stop_at = time.monotonic() + seconds
    if scenario == "basic":
        tasks = [bad_basic(i, stop_at, answers) for i in range(connections)]
    elif scenario == "abort":
        tasks = [aborted_basic(i, stop_at, answers) for i in range(connections)]
    else:
        tasks = [slow_headers(stop_at, answers) for _ in range(connections)]
    await asyncio.gather(sample(pid, stop_at + 2, peak), *tasks)
    return answers, peak[0]


def run(binary, scenario, connections, seconds):
    with tempfile.TemporaryDirectory() as state_dir:
        process = start(binary, state_dir)
        try:
            idle = rss_kib(process.pid, "VmRSS")
            answers, peak_sampled = asyncio.run(drive(scenario, process.pid, connections, seconds))
            hwm = rss_kib(process.pid, "VmHWM")
            alive = process.poll() is None
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    print(
        f"{scenario}: {connections} connections, {seconds} s: idle RSS {idle / 1024:.1f} MiB, "
        f"peak RSS {max(hwm, peak_sampled) / 1024:.1f} MiB, alive={alive}, answers={dict(answers)}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default="target/debug/nexus-operator")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--scenario", choices=["basic", "abort", "slow", "all"], default="all")
    args = parser.parse_args()
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.connections + 256)), hard))
    except (ImportError, ValueError):
        pass
    scenarios = ["basic", "abort", "slow"] if args.scenario == "all" else [args.scenario]
    for scenario in scenarios:
        run(args.binary, scenario, args.connections, args.seconds)


if __name__ == "__main__":
    socket.setdefaulttimeout(5)
    main()
