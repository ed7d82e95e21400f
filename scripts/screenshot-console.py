#!/usr/bin/env python3
"""Takes the README's screenshot of the agent console from a running `baton demo`.

    scripts/screenshot-console.py http://127.0.0.1:8080 docs/img/console.png

Headless Chromium through ChromeDriver (WebDriver over plain HTTP, standard library only): logs
in as the demo supervisor, opens the waiting VIP conversation (its brief and the copilot), and
saves a 1440x900 PNG.
"""

import base64
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def call(base, method, path, body=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)["value"]


def main():
    base, out = sys.argv[1], sys.argv[2]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    driver = subprocess.Popen([shutil.which("chromedriver"), f"--port={port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wd = f"http://127.0.0.1:{port}"
    profile = tempfile.mkdtemp(prefix="baton-shot-")
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(wd + "/status", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": shutil.which("chromium"),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1440,900",
                     "--hide-scrollbars", f"--user-data-dir={profile}", "--force-device-scale-factor=1"]}}}}
        session = call(wd, "POST", "/session", caps)["sessionId"]
        s = f"/session/{session}"

        def find(css):
            for _ in range(100):
                try:
                    return call(wd, "POST", s + "/element", {"using": "css selector", "value": css})
                except urllib.error.HTTPError:
                    time.sleep(0.1)
            raise SystemExit(f"no {css} on the page")

        def element_id(e):
            return next(iter(e.values()))

        def js(script):
            return call(wd, "POST", s + "/execute/sync", {"script": script, "args": []})

        # The VIP conversation waiting in billing: the one with a brief worth showing.
        login = json.load(urllib.request.urlopen(urllib.request.Request(
            base + "/v1/auth/login", data=json.dumps({"email": "sam@demo.baton.dev", "password": "baton-demo"}).encode(),
            headers={"Content-Type": "application/json"})))
        req = urllib.request.Request(base + "/v1/conversations?limit=100",
                                     headers={"Authorization": "Bearer " + login["token"]})
        items = json.load(urllib.request.urlopen(req))["items"]
        vip = next(c for c in items if (c.get("customer") or {}).get("name") == "Priya Shah" or c.get("customer_name") == "Priya Shah")

        # The console opens the conversation in the address once logged in.
        call(wd, "POST", s + "/url", {"url": base + "/console#c/" + vip["id"]})
        for css, text in (("#login-email", "sam@demo.baton.dev"), ("#login-password", "baton-demo")):
            call(wd, "POST", s + f"/element/{element_id(find(css))}/value", {"text": text})
        call(wd, "POST", s + f"/element/{element_id(find('#login-submit'))}/click", {})
        time.sleep(4)
        js("window.scrollTo(0, 0); return true")
        png = base64.b64decode(call(wd, "GET", s + "/screenshot"))
        with open(out, "wb") as f:
            f.write(png)
        call(wd, "DELETE", s)
        print(f"{out}: {len(png)} bytes")
    finally:
        driver.kill()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
