"""Record every model request and response of a session, and replay them later with no model.

Real-model runs cost money. `RecordingModel` wraps the session's model and writes down what each request sent and
what came back; `ReplayModel` answers the same requests from those files, with no network and no model, so a
session can be judged again with new evaluators, levels or gates, and a failing run reproduced exactly.

The files, the key an exchange is found again by, what is hashed and what is redacted are described in
docs/recording-format.md. One module per job:

| module | holds |
| --- | --- |
| `redaction` | `redact`: credentials never reach a file |
| `keys` | `Key` (item and run an exchange is filed under), the request's hash, file names |
| `files` | the header, reading and indexing an item's file, the packed (gzip) form, `pack` / `unpack` |
| `record` | `RecordingModel` |
| `replay` | `ReplayModel` and the message of a replay miss |
| `rekey` | `rekey`: an older format version's files rewritten in this one, keys computed from the stored requests |
"""

from .files import FORMAT_VERSION, pack, unpack
from .keys import RecordingError, Role
from .record import RecordingModel
from .redaction import REDACTED, redact
from .rekey import Rekeyed, rekey
from .replay import ReplayMissError, ReplayModel

__all__ = (
    'FORMAT_VERSION',
    'REDACTED',
    'RecordingError',
    'RecordingModel',
    'Rekeyed',
    'ReplayMissError',
    'ReplayModel',
    'Role',
    'pack',
    'redact',
    'rekey',
    'unpack',
)
