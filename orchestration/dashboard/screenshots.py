"""Screenshots of every dashboard page with headless chromium, for docs/dashboard.md.

.venv/bin/omni-inventory dashboard --port 8050 &
.venv/bin/python -m orchestration.dashboard.screenshots --url http://127.0.0.1:8050 docs/images
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

from orchestration.dashboard.app import PAGES


def screenshot(url: str, path: Path, *, width: int = 1400, height: int = 1600) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium is missing (Debian: apt-get install chromium)")
    subprocess.run(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--window-size={width},{height}", "--virtual-time-budget=15000", f"--screenshot={path}", url],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8050", help="A running dashboard.")
    parser.add_argument("folder", type=Path, help="Where the PNGs go (dashboard-<page>.png).")
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    for page in PAGES:
        target = args.folder / f"dashboard-{page.NAME}.png"
        screenshot(args.url.rstrip("/") + page.PATH, target)
        print(target)


if __name__ == "__main__":
    main()
