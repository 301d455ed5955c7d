#!/usr/bin/env python3
"""webide AI STAND-IN: a tiny fake of the GPU model servers, for the GPU-less test tier.

It is NOT vLLM and NOT Tabby. It answers the few endpoints the estate uses, in their shape,
with canned text, so that routing, authentication and healthchecks can be tested end to end
on a machine with no GPU. Python standard library only.

  STANDIN_ROLE=vllm   GET /health, GET /v1/models, POST /v1/chat/completions (OpenAI shape).
                      When VLLM_API_KEY is set, /v1/* need `Authorization: Bearer $VLLM_API_KEY`
                      (401 otherwise), as vLLM's --api-key / VLLM_API_KEY does. A chat request for a
                      model other than the served name gets 404, as from vLLM (unless
                      STANDIN_STRICT_MODEL=0); the reply's content names the model.
  STANDIN_ROLE=tabby  GET|POST /v1/health, POST /v1/completions, POST /v1/events (Tabby's shape).
                      When TABBY_API_TOKEN is set, completions and events need
                      `Authorization: Bearer $TABBY_API_TOKEN` (401 otherwise), as a Tabby with
                      authentication does for its API routes; health stays open for healthchecks.

  Both roles  GET /metrics: Prometheus text format, no key (as vLLM's /metrics):
                      ai_standin_requests_total{role,method,path,status} (counter),
                      ai_standin_request_duration_seconds{role,path} (histogram) and
                      ai_standin_delay_seconds{role} (gauge: the delay now added, see below).
                      `path` is one of the role's paths or "other", so random paths add no series.

Slow mode, for the test tier's latency alert: while the file $STANDIN_DELAY_FILE (default
/tmp/ai-standin-delay-ms) holds a number of milliseconds (0 to 60000), every model request
(Tabby's /v1/completions, vLLM's /v1/chat/completions) waits that long before it answers; health,
events and /metrics never wait. Only someone inside the container can write the file, e.g.
  docker exec <tabby container> sh -c 'echo 400 > /tmp/ai-standin-delay-ms'   # slow
  docker exec <tabby container> rm -f /tmp/ai-standin-delay-ms                # fast again
Nothing on the network switches it (the AI gateway forwards no path that could).

Listens on 0.0.0.0:$PORT (default 8000). Takes the real servers' command lines and ignores
them, except --port (and --host), --served-model-name and --model, which it honours:
  vllm:  /models/chat --served-model-name N --host 0.0.0.0 --port 8000 --max-model-len …
  tabby: serve --model M --device cuda --host 0.0.0.0 --port 8080
"""
import json
import os
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROLES = ("vllm", "tabby")

# The paths each role knows (the `path` label); any other path is counted as "other".
ROLE_PATHS = {
    "vllm": ("/health", "/metrics", "/v1/chat/completions", "/v1/models"),
    "tabby": ("/metrics", "/v1/completions", "/v1/events", "/v1/health"),
}
# The paths that do model work, and so wait in slow mode.
MODEL_PATHS = {"vllm": "/v1/chat/completions", "tabby": "/v1/completions"}
DEFAULT_DELAY_FILE = "/tmp/ai-standin-delay-ms"
MAX_DELAY_MS = 60_000
# Histogram bounds, seconds: fine between 0.1 and 0.3 s (the autocomplete target), as the gateway's.
BUCKETS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 1.0, 2.0, 5.0)


def read_delay_ms(path):
    """The slow mode's delay: the file's whole number of milliseconds, 0 when absent or not a number in range."""
    try:
        with open(path, encoding="ascii") as f:
            text = f.read(32).strip()
    except (OSError, UnicodeDecodeError):
        return 0
    if not text.isdigit():
        return 0
    value = int(text)
    return value if 0 <= value <= MAX_DELAY_MS else 0


def label_value(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def labels_text(pairs):
    return "{" + ",".join(f'{name}="{label_value(value)}"' for name, value in pairs) + "}"


class Metrics:
    """A request counter and a latency histogram, in Prometheus's text format. Thread-safe."""

    def __init__(self, role, delay_file):
        self.role = role
        self.delay_file = delay_file
        self.lock = threading.Lock()
        self.requests = {}  # (method, path, status) -> count
        self.durations = {}  # path -> [bucket counts..., count, sum]

    def path_label(self, path):
        return path if path in ROLE_PATHS[self.role] else "other"

    def observe(self, method, path, status, seconds):
        path = self.path_label(path)
        method = method if method in ("GET", "POST", "PUT", "DELETE", "HEAD") else "other"
        with self.lock:
            key = (method, path, str(status))
            self.requests[key] = self.requests.get(key, 0) + 1
            hist = self.durations.setdefault(path, [0] * len(BUCKETS) + [0, 0.0])
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    hist[i] += 1
            hist[-2] += 1
            hist[-1] += seconds

    def exposition(self):
        role = ("role", self.role)
        lines = [
            "# HELP ai_standin_requests_total Requests the stand-in answered, by method, path and HTTP status.",
            "# TYPE ai_standin_requests_total counter",
        ]
        with self.lock:
            for (method, path, status), count in sorted(self.requests.items()):
                lines.append(f"ai_standin_requests_total{labels_text([role, ('method', method), ('path', path), ('status', status)])} {count}")
            lines += [
                "# HELP ai_standin_request_duration_seconds Time from reading a request to its answer, by path.",
                "# TYPE ai_standin_request_duration_seconds histogram",
            ]
            for path, hist in sorted(self.durations.items()):
                base = [role, ("path", path)]
                for i, bound in enumerate(BUCKETS):
                    lines.append(f"ai_standin_request_duration_seconds_bucket{labels_text(base + [('le', repr(bound))])} {hist[i]}")
                lines.append(f"ai_standin_request_duration_seconds_bucket{labels_text(base + [('le', '+Inf')])} {hist[-2]}")
                lines.append(f"ai_standin_request_duration_seconds_sum{labels_text(base)} {hist[-1]!r}")
                lines.append(f"ai_standin_request_duration_seconds_count{labels_text(base)} {hist[-2]}")
        lines += [
            "# HELP ai_standin_delay_seconds The delay slow mode adds to every model request now (0: off).",
            "# TYPE ai_standin_delay_seconds gauge",
            f"ai_standin_delay_seconds{labels_text([role])} {read_delay_ms(self.delay_file) / 1000!r}",
        ]
        return "\n".join(lines) + "\n"


def parse_args(argv):
    """Pick the options the stand-in honours out of a vLLM/Tabby command line."""
    opts = {"port": None, "host": None, "served_model_name": None, "model": None, "positional": []}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--") and "=" in arg:
            key, value = arg[2:].split("=", 1)
            has_value, step = True, 1
        elif arg.startswith("--"):
            key = arg[2:]
            nxt = argv[i + 1] if i + 1 < len(argv) else None
            has_value = nxt is not None and not nxt.startswith("--")
            value, step = (nxt, 2) if has_value else (None, 1)
        else:
            opts["positional"].append(arg)
            i += 1
            continue
        key = key.replace("-", "_")
        if key in ("port", "host", "served_model_name", "model") and has_value:
            opts[key] = value
        i += step
    return opts


def main():
    role = os.environ.get("STANDIN_ROLE", "").strip().lower()
    if role not in ROLES:
        sys.stderr.write(f"ai-standin: STANDIN_ROLE must be one of {', '.join(ROLES)} (got {role!r})\n")
        return 2
    opts = parse_args(sys.argv[1:])
    port = int(opts["port"] or os.environ.get("PORT") or 8000)
    host = opts["host"] or "0.0.0.0"
    if role == "vllm":
        positional = [p for p in opts["positional"] if p != "serve"]
        model = opts["served_model_name"] or opts["model"] or (positional[0] if positional else "standin-chat")
    else:
        model = opts["model"] or "standin-completion"
    api_key = os.environ.get("VLLM_API_KEY" if role == "vllm" else "TABBY_API_TOKEN", "")
    # As vLLM: a request for any other model name gets 404 (STANDIN_STRICT_MODEL=0 answers all).
    strict_model = os.environ.get("STANDIN_STRICT_MODEL", "1") != "0"
    delay_file = os.environ.get("STANDIN_DELAY_FILE") or DEFAULT_DELAY_FILE
    metrics = Metrics(role, delay_file)

    log = lambda msg: print(f"ai-standin[{role}]: {msg}", flush=True)  # noqa: E731
    log("STAND-IN for the GPU model server (not the real vLLM/Tabby; no GPU is used)")
    log(f"NVIDIA_VISIBLE_DEVICES={os.environ.get('NVIDIA_VISIBLE_DEVICES', '<unset>')}")
    log(f"model={model} listen={host}:{port} uid={os.getuid()} gid={os.getgid()} "
        f"api_key={'required' if api_key else 'not required'} delay_file={delay_file} args={sys.argv[1:]}")

    class Handler(BaseHTTPRequestHandler):
        server_version = f"webide-ai-standin/{role}"
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # one line per request, on stdout
            log(f"{self.address_string()} {fmt % args}")

        def send_response(self, code, message=None):
            self.answered = code
            super().send_response(code, message)

        def timed(self, handle):
            """Handles the request and counts it, with its time, in the metrics."""
            start = time.monotonic()
            self.answered = 0
            self.body = None
            try:
                self.read_body()
                handle(self.path.split("?", 1)[0])
            finally:
                metrics.observe(self.command, self.path.split("?", 1)[0], self.answered, time.monotonic() - start)

        def slow_mode(self, path):
            """In slow mode, a model request waits the file's delay (after its key was checked)."""
            if path == MODEL_PATHS[role]:
                delay_ms = read_delay_ms(delay_file)
                if delay_ms > 0:
                    time.sleep(delay_ms / 1000)

        def send_metrics(self):
            data = metrics.exposition().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def send_json(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def read_body(self):
            """Reads the request's body once, before any answer: one left unread would be taken
            for the next request on a kept-alive connection."""
            if self.body is None:
                length = int(self.headers.get("Content-Length") or 0)
                self.body = self.rfile.read(length) if length > 0 else b""
            return self.body

        def read_json(self):
            raw = self.read_body()
            if not raw:
                return {}
            try:
                body = json.loads(raw)
            except ValueError:
                return None
            return body if isinstance(body, dict) else None

        def authorised(self):
            if not api_key:
                return True
            if self.headers.get("Authorization", "") == f"Bearer {api_key}":
                return True
            self.send_json(401, {"error": "Unauthorized"})
            return False

        def not_found(self):
            self.send_json(404, {"detail": "Not Found"})

        def do_GET(self):
            self.timed(self.handle_get)

        def do_POST(self):
            self.timed(self.handle_post)

        def handle_get(self, path):
            if path == "/metrics":
                self.send_metrics()
            elif role == "vllm":
                if path == "/health":
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif path == "/v1/models":
                    if self.authorised():
                        self.send_json(200, {"object": "list", "data": [
                            {"id": model, "object": "model", "created": int(time.time()), "owned_by": "ai-standin",
                             "root": model, "parent": None, "max_model_len": 4096}]})
                else:
                    self.not_found()
            else:
                if path == "/v1/health":
                    self.send_json(200, self.tabby_health())
                else:
                    self.not_found()

        def handle_post(self, path):
            if role == "vllm" and path == "/v1/chat/completions":
                if not self.authorised():
                    return
                body = self.read_json()
                if body is None:
                    self.send_json(400, {"error": "request body must be a JSON object"})
                    return
                self.slow_mode(path)
                requested = body.get("model") or model
                if requested != model and strict_model:
                    self.send_json(404, {"object": "error", "type": "NotFoundError", "code": 404,
                                         "message": f"The model `{requested}` does not exist."})
                    return
                messages = body.get("messages") or []
                last = next((m.get("content") for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), "")
                if not isinstance(last, str):
                    last = json.dumps(last)
                text = f"[ai-standin] reply from model {requested}: you said {last[:200]!r}"
                prompt_tokens, completion_tokens = max(1, len(json.dumps(messages)) // 4), max(1, len(text) // 4)
                self.send_json(200, {
                    "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
                    "model": requested,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "logprobs": None, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                              "total_tokens": prompt_tokens + completion_tokens},
                })
            elif role == "tabby" and path == "/v1/health":
                self.read_json()
                self.send_json(200, self.tabby_health())
            elif role == "tabby" and path == "/v1/events":
                if self.authorised():
                    self.read_json()
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
            elif role == "tabby" and path == "/v1/completions":
                if not self.authorised():
                    return
                body = self.read_json()
                if body is None:
                    self.send_json(400, {"error": "request body must be a JSON object"})
                    return
                self.slow_mode(path)
                language = body.get("language") or "unknown"
                self.send_json(200, {
                    "id": f"cmpl-{uuid.uuid4()}",
                    "choices": [{"index": 0, "text": f"// [ai-standin] completion from {model} ({language})"}],
                })
            else:
                self.not_found()

        def tabby_health(self):
            return {"model": model, "chat_model": None, "device": "standin (no GPU)", "arch": "x86_64",
                    "cpu_info": "ai-standin", "cpu_count": os.cpu_count() or 1, "cuda_devices": [],
                    "version": {"build_date": "", "git_describe": "ai-standin", "git_sha": ""}}

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True

    def stop(signum, _frame):
        log(f"signal {signum}: stopping")
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log("ready")
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
