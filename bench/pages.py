"""Page render time: the web pages (``/ui``) over HTTP against a real ``earsiv serve`` on a grown archive.

    .venv/bin/python bench/pages.py --home .bench/pages --docs 10000 [--rounds 150] [--issuers 6] [--seed 1]

DESIGN.md / issue 12: "Page render time p95 <= 150 ms for lists and document pages".

1. GROW (once; a later run with the same --home goes on where it stopped): ``synth.Stream``'s
   realistic signed invoices, archived for one tenant through ``Archive.ingest`` in this process
   with signatures checked beside it, then the full text caught up, so the archive is what an
   archive of that size is.
2. SERVE: ``earsiv serve`` on a free loopback port; one accountant of the tenant signs in through
   the sign-in form as a browser does (the form's token, then the session cookie), with keep-alive.
3. MEASURE, round robin (floor, A, B, ... floor, A, B, ...) for --rounds rounds, the wall time
   from request to the last byte of the answer:
     floor      ``GET /healthz`` and the stylesheet ``/ui/static/earsiv.css``: the HTTP round
                trip and the app's middleware, what is not the page;
     list-vkn   find by a supplier's VKN and a date range (a month), sorted by date: the first page;
     list-words find by a word of a supplier's name (the full-text index), the first page;
     list-all   every document, sorted by amount (the database sorts the newest 10,000 and totals them);
     list-names every document, sorted by supplier name, Z to A (Turkish alphabetical order, its stored keys);
     document   a document page (metadata, signature, proof, holdings), a random one each round;
     frame      the document's HTML print in the page's frame (the printing, for information).
   Each is checked (HTTP 200 and the expected text), so a refusal never passes as fast.

Prints p50/p95/p99 per kind, each p95 over the floor's p95, and PASS/FAIL against 150 ms for the
lists and the document page.  Results go to HOME.pages.json beside the home.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from synth import Stream

from earsiv.archive.archive import Archive
from earsiv.archive.ingest import Source

EARSIV = Path(sys.executable).parent / "earsiv"
TENANT = "1234567890"
TARGET_MS = 150.0
TARGETED = ("list-vkn", "list-words", "list-all", "list-names", "document")


def say(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def _state_path(home: Path) -> Path:
    return home.with_name(home.name + ".pages.json")


def grow(home: Path, docs: int, issuers: int, seed: int) -> dict:
    state_path = _state_path(home)
    state = json.loads(state_path.read_text()) if state_path.exists() else {"stream_pos": 0, "issuers": issuers,
                                                                            "seed": seed}
    if (state["issuers"], state["seed"]) != (issuers, seed):
        raise SystemExit(f"{home} was grown with --issuers {state['issuers']} --seed {state['seed']}: use another --home")
    if not (home / "config.toml").exists():
        Archive.init(home).close()
    need = docs - state["stream_pos"]
    t0 = time.perf_counter()
    if need > 0:
        say(f"growing {home} from {state['stream_pos']:,} to {docs:,} documents ...")
        stream = Stream(issuers=issuers, seed=seed)
        with Archive.open(home) as arch:
            step = 1000
            while state["stream_pos"] < docs:
                n = min(step, docs - state["stream_pos"])
                sources = (Source(f"pages/{d.name}", d.data) for d in stream.docs(state["stream_pos"], n))
                for res in arch.ingest(sources, tenant=TENANT, check_signatures=True):
                    if res.status == "rejected":
                        raise SystemExit(f"the archive rejected {res.path}: {res.error}")
                state["stream_pos"] += n
                state_path.write_text(json.dumps(state))
                say(f"  {state['stream_pos']:,} ({time.perf_counter() - t0:.0f} s)")
            arch.text.catch_up()
        state["grow_seconds"] = round(time.perf_counter() - t0, 1)
        state_path.write_text(json.dumps(state))
    return state


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fixtures(home: Path, rounds: int) -> dict:
    """What the pages are asked about: a token, suppliers with a busy month, words, documents."""
    with Archive.open(home) as arch:
        if "bench-acc" not in {p.name for p in arch.access.principals()}:
            arch.access.add_principal("bench-acc", "accountant", (TENANT,), by="bench")
        token = arch.access.create_token("bench-acc", by="bench").token
    db = sqlite3.connect(home / "index.sqlite")
    try:
        months = db.execute(
            "SELECT supplier_id, substr(issue_date, 1, 7) AS m, count(*) AS n FROM documents "
            "GROUP BY supplier_id, m ORDER BY n DESC LIMIT 12").fetchall()
        names = [r[0] for r in db.execute("SELECT DISTINCT supplier_name FROM documents LIMIT 50")]
        digests = [r[0] for r in db.execute("SELECT digest FROM documents ORDER BY random() LIMIT ?", (rounds,))]
    finally:
        db.close()
    words = sorted({w for n in names for w in re.findall(r"\w{5,}", n or "")})[:12]
    return {"token": token, "months": months, "words": words, "digests": digests}


def sign_in(client: httpx.Client, token: str) -> None:
    form = client.get("/ui/sign-in")
    presign = re.search(r'name="presign" value="([^"]+)"', form.text).group(1)
    r = client.post("/ui/sign-in", data={"presign": presign, "token": token, "next": "/ui/documents"})
    if r.status_code != 200 or "earsiv_session" not in client.cookies:
        raise SystemExit(f"sign-in failed: HTTP {r.status_code} {r.text[:300]}")


def _month_range(month: str) -> tuple[str, str]:
    y, m = (int(x) for x in month.split("-"))
    last = [31, 29 if y % 4 == 0 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]
    return f"01.{m:02d}.{y}", f"{last:02d}.{m:02d}.{y}"


def measure(base: str, fx: dict, rounds: int, seed: int) -> dict[str, list[float]]:
    rng = random.Random(seed)
    times: dict[str, list[float]] = {k: [] for k in ("floor-healthz", "floor-css", "list-vkn", "list-words",
                                                      "list-all", "list-names", "document", "frame")}
    rows_seen: dict[str, list[int]] = {k: [] for k in ("list-vkn", "list-words", "list-all", "list-names")}
    with httpx.Client(base_url=base, timeout=120, follow_redirects=True) as c:
        sign_in(c, fx["token"])

        def timed(kind: str, url: str, expect: str) -> str:
            t0 = time.perf_counter()
            r = c.get(url)
            body = r.text
            dt_ms = (time.perf_counter() - t0) * 1000
            if r.status_code != 200 or expect not in body:
                raise SystemExit(f"{kind} {url}: HTTP {r.status_code}, {expect!r} not in the answer: {body[:300]}")
            times[kind].append(dt_ms)
            return body

        for i in range(rounds):
            vkn, month, _n = fx["months"][i % len(fx["months"])]
            start, end = _month_range(month)
            word = fx["words"][i % len(fx["words"])]
            digest = fx["digests"][i % len(fx["digests"])]
            steps = [
                ("floor-healthz", "/healthz", "ok"),
                ("floor-css", "/ui/static/earsiv.css", "box-sizing"),
                ("list-vkn", f"/ui/documents?vkn={vkn}&from={start}&to={end}", "<tbody>"),
                ("list-words", f"/ui/documents?q={word}", "<tbody>"),
                ("list-all", "/ui/documents?all=1&sort=amount", "<tbody>"),
                ("list-names", "/ui/documents?all=1&sort=supplier&desc=1", "<tbody>"),
                ("document", f"/ui/documents/{digest}", digest),
                ("frame", f"/ui/documents/{digest}/frame", "<"),
            ]
            rng.shuffle(steps[2:])  # the floor first, then the subjects in a new order each round
            for kind, url, expect in steps:
                body = timed(kind, url, expect)
                if kind in rows_seen:
                    rows_seen[kind].append(body.count('<a href="/ui/documents/'))
            if (i + 1) % 25 == 0:
                say(f"  round {i + 1}/{rounds}")
    for kind, seen in rows_seen.items():
        say(f"{kind}: rows on the page {min(seen)}-{max(seen)}")
    return times


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def summarise(times: dict[str, list[float]]) -> dict[str, dict]:
    floor95 = _pct(times["floor-healthz"], 95)
    out = {}
    for kind, values in times.items():
        out[kind] = {"n": len(values), "p50": round(statistics.median(values), 1), "p95": round(_pct(values, 95), 1),
                     "p99": round(_pct(values, 99), 1), "x_floor_p95": round(_pct(values, 95) / floor95, 1)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, default=ROOT / ".bench" / "pages")
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=150)
    ap.add_argument("--issuers", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    home = args.home.resolve()
    home.parent.mkdir(parents=True, exist_ok=True)
    state = grow(home, args.docs, args.issuers, args.seed)
    fx = fixtures(home, args.rounds)
    port = _free_port()
    log = open(home.with_name(home.name + ".serve.log"), "wb")  # noqa: SIM115 -- closed below
    proc = subprocess.Popen([str(EARSIV), "--home", str(home), "serve", "--port", str(port)], stdout=log,
                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    base = f"http://127.0.0.1:{port}"
    try:
        t0 = time.perf_counter()
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"earsiv serve exited with {proc.returncode}")
            try:
                if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.perf_counter() - t0 > 600:
                raise SystemExit("earsiv serve did not answer /healthz")
            time.sleep(0.05)
        say(f"serve up after {time.perf_counter() - t0:.1f} s; {args.rounds} rounds ...")
        times = measure(base, fx, args.rounds, args.seed)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    summary = summarise(times)
    print(f"pages at {state['stream_pos']:,} documents ({args.issuers} issuers), {args.rounds} rounds, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"{'kind':<14}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'p95/floor':>11}  target")
    for kind, s in summary.items():
        verdict = ("PASS" if s["p95"] <= TARGET_MS else "FAIL") if kind in TARGETED else "-"
        print(f"{kind:<14}{s['p50']:>9}{s['p95']:>9}{s['p99']:>9}{s['x_floor_p95']:>10}x  {verdict}")
    result = {"documents": state["stream_pos"], "issuers": args.issuers, "rounds": args.rounds,
              "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "load1": os.getloadavg()[0],
              "summary": summary}
    home.with_name(home.name + ".pages-results.json").write_text(json.dumps(result, indent=1))
    return 0 if all(summary[k]["p95"] <= TARGET_MS for k in TARGETED) else 1


if __name__ == "__main__":
    sys.exit(main())
