"""What the seed generators share (make-report-seeds.py,
make-client-seeds.py): the agent API's Python messages, generated from
proto/cats.proto by Debian's protoc into a temporary directory."""

import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))


def load_proto():
    gen = tempfile.mkdtemp(prefix="cats-seeds-")
    subprocess.run(["protoc", "--proto_path=" + TOP, "--python_out=" + gen,
                    "proto/cats.proto"], check=True)
    sys.path.insert(0, os.path.join(gen, "proto"))
    try:
        import cats_pb2
    finally:
        shutil.rmtree(gen)
    return cats_pb2
