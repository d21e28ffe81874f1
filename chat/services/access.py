"""Access rules every write service applies before it changes anything."""

from django.contrib.auth.models import User

from chat import selectors
from chat.errors import ChatError
from chat.protocol.codes import ErrorCode


def access_require_write(*, room_id: int, user: User) -> None:
    access = selectors.access_for(room_id=room_id, user_id=user.pk)
    if not access["write"]:
        raise ChatError(access["code"] or ErrorCode.FORBIDDEN, access["detail"])


def access_require_read(*, room_id: int, user: User) -> None:
    access = selectors.access_for(room_id=room_id, user_id=user.pk)
    if not access["read"]:
        raise ChatError(access["code"] or ErrorCode.FORBIDDEN, access["detail"])
