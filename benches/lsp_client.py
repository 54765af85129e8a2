#!/usr/bin/env python3
"""Times `campaign lsp` answering completion and hover right after an edit.

Usage: lsp_client.py CAMPAIGN_BINARY FILE.campaign [ROUNDS]

Drives the server over stdio as an editor does (JSON-RPC, Content-Length
framing, incremental didChange). Each round sends an edit and, in the same
write, a completion (or hover) request inside a merge of a line picked
across the whole file (the lexical scan before the cursor grows with the
offset, so the end of the file is included); the latency is from before that
write to the response. Two phases:

- typing: rounds back to back, as fast typing (the debounced analysis keeps
  being pushed back, as while typing);
- paced: each edit lands just after the debounce expired, so the edit and
  request often wait behind a whole-file analysis in the loop: the worst
  case a user can meet.

Prints p50, p99 and max per phase and kind, and how long the diagnostics
of one edit take to be published (the debounce included).
"""

import json
import queue
import subprocess
import sys
import threading
import time

DEBOUNCE_S = 0.120  # src/lsp/server.rs DEBOUNCE


def frame(message):
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def reader(stream, out):
    while True:
        length = None
        while True:
            line = stream.readline()
            if not line:
                out.put(None)
                return
            line = line.strip()
            if not line:
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        out.put(json.loads(stream.read(length)))


class Client:
    def __init__(self, binary):
        self.proc = subprocess.Popen([binary, "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.incoming = queue.Queue()
        threading.Thread(target=reader, args=(self.proc.stdout, self.incoming), daemon=True).start()
        self.next_id = 1

    def write(self, *messages):
        self.proc.stdin.write(b"".join(frame(m) for m in messages))
        self.proc.stdin.flush()

    def request(self, method, params):
        message = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        self.next_id += 1
        return message

    @staticmethod
    def notification(method, params):
        return {"jsonrpc": "2.0", "method": method, "params": params}

    def wait_for(self, predicate):
        while True:
            message = self.incoming.get(timeout=60)
            if message is None:
                sys.exit("the server closed its output")
            if predicate(message):
                return message


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    binary, path = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    text = open(path, encoding="utf-8").read()
    lines = text.split("\n")
    # `url ".../contacts/N?src=[Lead Source]"` and the `note "Hello ..."` lines.
    urls = [i for i, l in enumerate(lines) if "?src=[Lead Source]" in l]
    notes = [i for i, l in enumerate(lines) if 'note "Hello [First Name' in l]
    uri = "file:///bench/generated.campaign"
    client = Client(binary)
    client.write(client.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}}))
    client.wait_for(lambda m: m.get("id") == 1)
    client.write(
        client.notification("initialized", {}),
        client.notification(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "campaign", "version": 1, "text": text}},
        ),
    )
    client.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics")
    version = 1
    inserted = {}  # note line -> whether an `x` is there now

    def edit():
        nonlocal version
        version += 1
        line = notes[(version * 7919) % len(notes)]
        at = len(lines[line]) - 1  # before the closing quote
        if inserted.get(line):
            change = {"range": {"start": {"line": line, "character": at}, "end": {"line": line, "character": at + 1}}, "text": ""}
            inserted[line] = False
        else:
            change = {"range": {"start": {"line": line, "character": at}, "end": {"line": line, "character": at}}, "text": "x"}
            inserted[line] = True
        return client.notification(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]},
        )

    results = {}
    for phase, pause in (("typing", 0.0), ("paced", DEBOUNCE_S + 0.005)):
        for kind in ("completion", "hover"):
            times = []
            for k in range(rounds):
                line = urls[(k * len(urls)) // rounds] if k % 2 else urls[-1 - (k * 31) % len(urls)]
                column = lines[line].index("[Lead Source]") + 3  # after `[Le`
                method = "textDocument/completion" if kind == "completion" else "textDocument/hover"
                request = client.request(method, {"textDocument": {"uri": uri}, "position": {"line": line, "character": column}})
                started = time.perf_counter()
                client.write(edit(), request)
                answer = client.wait_for(lambda m, i=request["id"]: m.get("id") == i)
                times.append((time.perf_counter() - started) * 1000)
                result = answer.get("result")
                if not result:
                    sys.exit(f"{kind} at {line}:{column} answered {answer}")
                if pause:
                    time.sleep(pause)
            results[(phase, kind)] = times

    # One edit, then its diagnostics.
    started = time.perf_counter()
    client.write(edit())
    client.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"].get("version") == version)
    published = (time.perf_counter() - started) * 1000

    client.write(client.request("shutdown", None))
    client.wait_for(lambda m: m.get("id") == client.next_id - 1)
    client.write(client.notification("exit", None))
    client.proc.wait(timeout=10)

    print(f"file: {path} ({len(lines)} lines, {len(text)} bytes); {rounds} rounds per phase and kind")
    for (phase, kind), times in results.items():
        print(
            f"{phase:7} {kind:10} p50 {percentile(times, 50):6.2f} ms  p99 {percentile(times, 99):6.2f} ms  max {max(times):6.2f} ms"
        )
    print(f"diagnostics of one edit published after {published:.1f} ms ({DEBOUNCE_S * 1000:.0f} ms of it the debounce)")


if __name__ == "__main__":
    main()
