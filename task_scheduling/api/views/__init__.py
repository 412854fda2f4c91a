"""Views of /tasks/scheduled/ and the scheduling part of /tasks/system/, one module per resource. Each
validates input, calls one service or selector and serializes the output."""
