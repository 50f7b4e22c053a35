"""The WebSocket client the tests open sockets with.

simple-websocket 1.1.0's client reads the handshake answer into wsproto and starts its
reader thread, which waits for the next packet; frames that came in the same packet as
the answer (a server that closes at once, or sends its first message at once) stay in
wsproto's buffer, and at end of stream the thread stops without reading them: the test
sees close code 1005 instead of the server's, or misses the first message. Browsers read
those frames; this client does too.
"""

from simple_websocket import Client as _Client


class Client(_Client):
    def _thread(self):
        if not self._handle_events():  # what came with the handshake answer
            self.sock.close()
            return
        super()._thread()
