"""A stand-in KMS endpoint for the AWS CLI comparison test (cli.rs,
aws_cli_prints_the_same_json): answers every POST with the JSON 1.1 body in
the file named by argv[1] (Strongroom's own wire JSON for the operation),
and records each request's X-Amz-Target in argv[2]. Prints its port."""
import http.server
import sys

BODY, LOG = sys.argv[1], sys.argv[2]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(LOG, "a") as f:
            f.write(self.headers.get("X-Amz-Target", "") + "\n")
        body = open(BODY, "rb").read()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
