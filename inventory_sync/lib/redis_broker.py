"""The Redis broker transport: kombu's, with a lost connection reported as one when a channel
is closed a second time.

When Redis goes away while a worker waits in BRPOP, Celery (5.7) first collects the broken
connection, which closes each channel and then detaches the transport from its connection,
and then closes the connection again. kombu's channel close reads the dead BRPOP first; that
read raises a connection error, so the first close stops before the channel counts as closed.
The second close then tries to hand the worker's unacknowledged messages back, builds a new
connection pool from the detached transport and fails with AttributeError ('NoneType' object
has no attribute 'hostname'). That is not a connection error, so the worker calls it
unrecoverable and exits instead of reconnecting (reproduced with every pool and acks_late).

Here a channel whose transport is detached raises the connection error that it is: the
closing code already ignores those, and the worker goes on to reconnect. The messages it
could not hand back are lost with the broker connection; the database still holds the work
and the periodic sweep rings the loops again.
"""

from __future__ import annotations

from kombu.transport import redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(redis.Channel):
    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection was closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(redis.Transport):
    Channel = Channel
