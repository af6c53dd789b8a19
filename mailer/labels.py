"""What staff see on every door: the Japanese names of states and roles, and
times as Tokyo wall time."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from mailer.i18n import N_, gettext
from mailer.models import DeliveryStatus, SendStatus, SubscriberStatus, UserRole

K = TypeVar("K")


class Labels(Mapping[K, str]):
    """A table of names staff see, looked up in the message catalogue each
    time it is read (so a change of language reaches module constants)."""

    def __init__(self, source: Mapping[K, str]) -> None:
        self._source = dict(source)

    def __getitem__(self, key: K) -> str:
        return gettext(self._source[key])

    def __iter__(self) -> Iterator[K]:
        return iter(self._source)

    def __len__(self) -> int:
        return len(self._source)


TOKYO = ZoneInfo("Asia/Tokyo")

SEND_LABELS = Labels({
    SendStatus.SCHEDULED: N_("予約済み"), SendStatus.RUNNING: N_("送信中"),
    SendStatus.PAUSED: N_("一時停止"),
    SendStatus.DONE: N_("完了"), SendStatus.CANCELLED: N_("取り消し"),
})
#: a part's state as listings derive it (mailer.services.listings.PartState values)
PART_STATE_LABELS = Labels({
    "unsent": N_("未配信"), "scheduled": N_("配信予定"), "sent": N_("配信済み"),
})
DELIVERY_LABELS = Labels({
    DeliveryStatus.PENDING: N_("未送信"), DeliveryStatus.SENDING: N_("送信処理中"),
    DeliveryStatus.SENT: N_("送信済み"), DeliveryStatus.DEFERRED: N_("再試行待ち"),
    DeliveryStatus.FAILED: N_("失敗"), DeliveryStatus.SKIPPED: N_("対象外（停止・抑止）"),
    DeliveryStatus.CANCELLED: N_("取り消し"),
    DeliveryStatus.UNKNOWN: N_("結果不明（SMTP 応答なし）"),
})
SUBSCRIBER_LABELS = Labels({
    SubscriberStatus.ACTIVE: N_("配信中"), SubscriberStatus.UNSUBSCRIBED: N_("配信停止"),
    SubscriberStatus.BOUNCED: N_("不達"), SubscriberStatus.COMPLAINED: N_("苦情"),
})
ROLE_LABELS = Labels({
    UserRole.EDITOR: N_("編集"), UserRole.APPROVER: N_("承認"), UserRole.LIST_ADMIN: N_("名簿管理"),
    UserRole.VIEWER: N_("閲覧"), UserRole.ADMIN: N_("管理者"),
})


#: a subscriber's history (SubscriberEvent.kind), as staff read it
EVENT_LABELS = Labels({
    "created": N_("登録"), "imported": N_("取り込み"), "updated": N_("更新"),
    "joined": N_("購読申し込み"), "preferences": N_("配信設定の変更"),
    "unsubscribed": N_("配信停止"), "resubscribed": N_("配信再開"),
    "bounced": N_("不達"), "soft-bounce": N_("一時的な不達"), "complained": N_("苦情"),
})
#: the detail of a status change that names no list (as services write it)
ALL_LISTS = "all lists"
ALL_LISTS_LABEL = N_("すべてのリスト")


#: what loading an issue did to it and each part (mailer.compose.load.LoadStatus values)
LOAD_LABELS = Labels({
    "created": N_("新規登録"), "updated": N_("更新"), "unchanged": N_("変更なし"),
})

#: an audit-log action (AuditLog.action) as /admin/audit shows it; the stored
#: key stays as it is (the page filters by its prefix)
AUDIT_ACTION_LABELS = Labels({
    "audit.export": N_("監査ログの書き出し"),
    "auth.login": N_("ログイン"), "auth.login_failed": N_("ログイン失敗"),
    "auth.login_locked": N_("ログイン拒否（ロック中）"), "auth.logout": N_("ログアウト"),
    "auth.logout_everywhere": N_("全端末からログアウト"),
    "issue.draft_image": N_("下書きの画像"), "issue.draft_save": N_("下書きの保存"),
    "issue.publish_draft": N_("下書きから号を登録"), "issue.upload": N_("号のアップロード"),
    "part.publish": N_("パートの公開"), "part.unpublish": N_("パートの公開取り下げ"),
    "part.test_send": N_("テスト送信"),
    "send.schedule": N_("配信の予約"), "send.approve": N_("配信の承認"),
    "send.pause": N_("配信の一時停止"), "send.resume": N_("一時停止した配信の再開"),
    "send.cancel": N_("配信の取り消し"), "send.resend-failed": N_("失敗分の再送"),
    "subscriber.create": N_("購読者の登録"), "subscriber.update": N_("購読者の変更"),
    "subscriber.import": N_("購読者の取り込み"), "subscriber.export": N_("購読者の書き出し"),
    "subscriber.erase": N_("購読者の消去（個人情報）"),
    "token.create": N_("APIトークンの発行"), "token.revoke": N_("APIトークンの失効"),
    "user.create": N_("ユーザーの作成"), "user.enable": N_("ユーザーの有効化"),
    "user.disable": N_("ユーザーの無効化"),
    "user.password": N_("パスワードの変更"), "user.roles": N_("役割の変更"),
})


#: a block of a part (mailer.compose.document, `kind`), as preflight names its place
BLOCK_LABELS = Labels({
    "lead": N_("リード"), "heading": N_("見出し"), "paragraph": N_("段落"), "note": N_("注記"),
    "event_date": N_("開催日"), "participants": N_("参加者"), "prompt": N_("問いかけ"),
    "turn": N_("発言"), "figure": N_("図"), "credits": N_("クレジット"),
    "next_part": N_("次回予告"),
})


def tokyo(value: datetime | None, *, seconds: bool = False) -> str:
    """Return `value` as Tokyo wall time ("2026-12-01 09:00"), "—" for None."""
    if value is None:
        return "—"
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    if value.tzinfo is None:  # SQLite hands back naive values; they are UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(TOKYO).strftime(fmt)
