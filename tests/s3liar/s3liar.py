#!/usr/bin/python3
"""
s3liar: a fake S3 server that answers with hostile but well-formed HTTP
(tests/test_s3liar.c).  Test-only, never installed.  Run with /usr/bin/python3.

    s3liar.py DIR

Serves path-style S3 (ListObjectsV2, HEAD, GET with Range and If-Match, PUT
with If-None-Match, multipart create/part/complete/abort/list, DELETE) on
127.0.0.1, from memory, with no signature check.  It writes its port to
DIR/port once it listens, logs every request as one line to DIR/log
("METHOD PATH?QUERY auth=0|1 conn=CLIENTPORT"), and before each request reads DIR/mode:
lines "OP WHAT [ARG]" that make it lie (see MODES below).  A change of the
mode file resets the liar's counters.  It exits on SIGTERM (the test stops
it by PID) and when its parent dies (stdin closed is not relied on).
"""
import hashlib
import http.server
import os
import signal
import socket
import sys
import threading
import urllib.parse
from email.utils import formatdate

DIR = sys.argv[1]
LOCK = threading.Lock()
OBJECTS = {}       # (bucket, key) -> bytes
ETAGS = {}         # (bucket, key) -> the ETag of a completed multipart upload
UPLOADS = {}       # upload id -> [bucket, key, {part: bytes}]
STATE = {"mode_text": None, "mode": {}, "n": 0}
NEXT_ID = [0]

# MODES (one per line of DIR/mode, "OP WHAT [ARG]"):
#   list same-token       every listing: truncated, the same token, no key
#   list new-empty        every listing: truncated, a new token, no key
#   list new-keys         every listing: truncated, a new token, one new key
#   list repeat           page 1 keys a,b (truncated); page 2 the same keys again, not truncated
#   list raw FILE         listings answer FILE's bytes (200); the probe (max-keys=1) stays honest
#   uploads same-marker   ListMultipartUploads: truncated forever, the same markers
#   uploads raw FILE      ListMultipartUploads answers FILE's bytes
#   create raw FILE       CreateMultipartUpload answers FILE's bytes
#   complete raw FILE     CompleteMultipartUpload answers FILE's bytes (200), storing the object
#   complete missing      CompleteMultipartUpload answers 200 and stores nothing
#   complete short        CompleteMultipartUpload stores all parts but the last
#   put etag VALUE        PUT and UploadPart answer ETag "VALUE" (stored as sent)
#   get short             a GET says its Content-Length, sends 10 bytes fewer, closes
#   get long              a ranged GET sends 16 bytes more than asked (206, Content-Length says so)
#   get whole             a ranged GET answers 200 with the whole object
#   get shifted           a ranged GET answers 206 with the bytes (and Content-Range) 1 byte further on
#   get norange           a ranged GET answers 206 without Content-Range
#   head size N           HEAD gives Content-Length N
#   head body             HEAD sends a body after its headers
#   all status CODE FILE  every request but the probe answers CODE with FILE's bytes (an <Error>)
#   all redirect URL      every request but the probe answers 307 to URL
#   all slowdown          every request but the probe answers 503 SlowDown


def read_mode():
    try:
        with open(os.path.join(DIR, "mode"), "rb") as f:
            text = f.read()
    except OSError:
        text = b""
    with LOCK:
        if text != STATE["mode_text"]:
            STATE["mode_text"] = text
            STATE["n"] = 0
            mode = {}
            for line in text.decode("utf-8", "replace").splitlines():
                w = line.split(" ", 2)
                if len(w) >= 2:
                    mode[w[0]] = w[1:]
            STATE["mode"] = mode
        STATE["n"] += 1
        return STATE["mode"], STATE["n"]


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def etag_of(b):
    return hashlib.md5(b).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def log_request_line(self):
        with LOCK, open(os.path.join(DIR, "log"), "a") as f:
            f.write("%s %s auth=%d conn=%d\n" % (self.command, self.path, "Authorization" in self.headers,
                                                 self.client_address[1]))

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def answer(self, status, body=b"", headers=None, head=False):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        if body and not head:
            self._headers_buffer.append(b"\r\n" + body)
            self.flush_headers()
        else:
            self.end_headers()

    def xml(self, doc, status=200):
        self.answer(status, doc.encode() if isinstance(doc, str) else doc, {"Content-Type": "application/xml"})

    def error(self, status, code, msg=""):
        self.xml("<?xml version=\"1.0\"?><Error><Code>%s</Code><Message>%s</Message></Error>" % (code, msg), status)

    def parse(self):
        u = urllib.parse.urlsplit(self.path)
        parts = u.path.split("/", 2)
        bucket = urllib.parse.unquote(parts[1]) if len(parts) > 1 else ""
        key = urllib.parse.unquote(parts[2]) if len(parts) > 2 else None
        q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        return bucket, key, q

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def handle_one(self):
        self.log_request_line()
        mode, n = read_mode()
        bucket, key, q = self.parse()
        data = self.body() if self.command in ("PUT", "POST") else b""
        probe = self.command == "GET" and key is None and q.get("max-keys") == "1"
        a = mode.get("all")
        if a and not probe:
            if a[0] == "status":
                st, f = a[1].split(" ", 1)
                return self.answer(int(st), file_bytes(f), {"Content-Type": "application/xml"})
            if a[0] == "redirect":
                return self.answer(307, b"", {"Location": a[1]})
            if a[0] == "slowdown":
                return self.error(503, "SlowDown", "Please reduce your request rate.")
        if key is None:
            if self.command == "GET" and "uploads" in q:
                return self.list_uploads(bucket, q, mode.get("uploads"))
            if self.command == "GET":
                return self.list(bucket, q, None if probe else mode.get("list"), n)
            if self.command == "PUT":
                return self.answer(200)
            return self.error(405, "MethodNotAllowed")
        if self.command == "POST" and "uploads" in q:
            m = mode.get("create")
            if m and m[0] == "raw":
                return self.xml(file_bytes(m[1]))
            with LOCK:
                NEXT_ID[0] += 1
                uid = "up%d" % NEXT_ID[0]
                UPLOADS[uid] = [bucket, key, {}]
            return self.xml("<InitiateMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><UploadId>%s</UploadId>"
                            "</InitiateMultipartUploadResult>" % (bucket, key, uid))
        if self.command == "PUT" and "uploadId" in q:
            up = UPLOADS.get(q["uploadId"])
            if not up:
                return self.error(404, "NoSuchUpload")
            up[2][int(q["partNumber"])] = data
            m = mode.get("put")
            return self.answer(200, b"", {"ETag": '"%s"' % (m[1] if m and m[0] == "etag" else etag_of(data))})
        if self.command == "POST" and "uploadId" in q:
            return self.complete(bucket, key, q["uploadId"], mode.get("complete"))
        if self.command == "DELETE" and "uploadId" in q:
            UPLOADS.pop(q["uploadId"], None)
            return self.answer(204)
        obj = OBJECTS.get((bucket, key))
        if self.command == "PUT":
            if obj is not None and self.headers.get("If-None-Match") == "*":
                return self.error(412, "PreconditionFailed")
            OBJECTS[(bucket, key)] = data
            ETAGS.pop((bucket, key), None)
            m = mode.get("put")
            return self.answer(200, b"", {"ETag": '"%s"' % (m[1] if m and m[0] == "etag" else etag_of(data))})
        if self.command == "DELETE":
            OBJECTS.pop((bucket, key), None)
            ETAGS.pop((bucket, key), None)
            return self.answer(204)
        if obj is None:
            return self.error(404, "NoSuchKey")
        self.etag = ETAGS.get((bucket, key), etag_of(obj))
        if self.command == "HEAD":
            return self.head(obj, mode.get("head"))
        if self.command == "GET":
            return self.get(obj, mode.get("get"))
        return self.error(405, "MethodNotAllowed")

    def meta(self, obj):
        return {"ETag": '"%s"' % self.etag, "Last-Modified": formatdate(usegmt=True)}

    def head(self, obj, m):
        h = self.meta(obj)
        h["Content-Length"] = str(len(obj))
        if m and m[0] == "size":
            h["Content-Length"] = m[1]
        if m and m[0] == "body":
            self.answer(200, b"", h, head=True)
            self.wfile.write(b"<html>surprise</html>" * 10)
            self.close_connection = True
            return
        self.answer(200, b"", h, head=True)

    def get(self, obj, m):
        h = self.meta(obj)
        if self.headers.get("If-Match") and self.headers["If-Match"].strip('"') != self.etag:
            return self.error(412, "PreconditionFailed")
        rng = self.headers.get("Range")
        if not rng:
            if m and m[0] == "short":
                h["Content-Length"] = str(len(obj))
                self.answer(200, b"", h)
                self.wfile.write(obj[:-10])
                self.close_connection = True
                return
            return self.answer(200, obj, h)
        first, last = (int(x) for x in rng.split("=")[1].split("-"))
        last = min(last, len(obj) - 1)
        what = m[0] if m else ""
        if what == "whole":
            return self.answer(200, obj, h)
        if what == "shifted":
            first, last = first + 1, min(last + 1, len(obj) - 1)
        piece = obj[first:last + 1]
        h["Content-Range"] = "bytes %d-%d/%d" % (first, last, len(obj))
        if what == "norange":
            del h["Content-Range"]
        if what == "long":
            piece += b"\0" * 16
        if what == "short":
            h["Content-Length"] = str(len(piece))
            self.answer(206, b"", h)
            self.wfile.write(piece[:-10])
            self.close_connection = True
            return
        return self.answer(206, piece, h)

    def complete(self, bucket, key, uid, m):
        up = UPLOADS.pop(uid, None)
        if not up:
            return self.error(404, "NoSuchUpload")
        nums = sorted(up[2])
        if m and m[0] == "short":
            nums = nums[:-1]
        body = b"".join(up[2][i] for i in nums)
        if not (m and m[0] == "missing"):
            OBJECTS[(bucket, key)] = body
            md5s = b"".join(hashlib.md5(up[2][i]).digest() for i in nums)
            ETAGS[(bucket, key)] = "%s-%d" % (hashlib.md5(md5s).hexdigest(), len(nums))
        if m and m[0] == "raw":
            return self.xml(file_bytes(m[1]))
        return self.xml("<CompleteMultipartUploadResult><Key>%s</Key><ETag></ETag></CompleteMultipartUploadResult>"
                        % key)

    def list(self, bucket, q, m, n):
        prefix = q.get("prefix", "")
        if m and m[0] == "raw":
            return self.xml(file_bytes(m[1]))
        head = "<?xml version=\"1.0\"?><ListBucketResult><Name>%s</Name><Prefix>%s</Prefix>" % (bucket, prefix)
        what = m[0] if m else ""
        if what == "same-token":
            return self.xml(head + "<KeyCount>0</KeyCount><IsTruncated>true</IsTruncated><NextContinuationToken>T"
                            "</NextContinuationToken></ListBucketResult>")
        if what == "new-empty":
            return self.xml(head + "<KeyCount>0</KeyCount><IsTruncated>true</IsTruncated><NextContinuationToken>T%d"
                            "</NextContinuationToken></ListBucketResult>" % n)
        if what == "new-keys":
            return self.xml(head + "<Contents><Key>%sk%09d</Key><Size>1</Size></Contents><IsTruncated>true"
                            "</IsTruncated><NextContinuationToken>T%d</NextContinuationToken></ListBucketResult>"
                            % (prefix, n, n))
        if what == "repeat":
            more = "continuation-token" not in q
            return self.xml(head + "<Contents><Key>%sa</Key><Size>1</Size></Contents><Contents><Key>%sb</Key>"
                            "<Size>2</Size></Contents><IsTruncated>%s</IsTruncated>%s</ListBucketResult>"
                            % (prefix, prefix, "true" if more else "false",
                               "<NextContinuationToken>T2</NextContinuationToken>" if more else ""))
        keys = sorted(k for (b, k) in OBJECTS if b == bucket and k.startswith(prefix))
        if q.get("max-keys") == "1":
            keys = keys[:1]
        out = [head]
        prefixes = set()
        for k in keys:
            rest = k[len(prefix):]
            if q.get("delimiter") == "/" and "/" in rest:
                prefixes.add(prefix + rest.split("/")[0] + "/")
                continue
            out.append("<Contents><Key>%s</Key><Size>%d</Size><LastModified>2026-01-02T03:04:05.000Z</LastModified>"
                       "<ETag>\"%s\"</ETag></Contents>" % (k, len(OBJECTS[(bucket, k)]), etag_of(OBJECTS[(bucket, k)])))
        for p in sorted(prefixes):
            out.append("<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>" % p)
        out.append("<IsTruncated>false</IsTruncated></ListBucketResult>")
        return self.xml("".join(out))

    def list_uploads(self, bucket, q, m):
        if m and m[0] == "raw":
            return self.xml(file_bytes(m[1]))
        if m and m[0] == "same-marker":
            return self.xml("<ListMultipartUploadsResult><IsTruncated>true</IsTruncated><NextKeyMarker>k"
                            "</NextKeyMarker><NextUploadIdMarker>u</NextUploadIdMarker></ListMultipartUploadsResult>")
        out = ["<ListMultipartUploadsResult>"]
        for uid, (b, k, _) in sorted(UPLOADS.items()):
            if b == bucket and k.startswith(q.get("prefix", "")):
                out.append("<Upload><Key>%s</Key><UploadId>%s</UploadId></Upload>" % (k, uid))
        out.append("<IsTruncated>false</IsTruncated></ListMultipartUploadsResult>")
        return self.xml("".join(out))

    def do_GET(self):
        self.handle_one()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    srv = Server(("127.0.0.1", 0), Handler)
    tmp = os.path.join(DIR, "port.tmp")
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, os.path.join(DIR, "port"))
    srv.serve_forever()


main()
