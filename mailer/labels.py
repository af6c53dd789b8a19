"""What staff see on every door: the Japanese names of states and roles, and
times as Tokyo wall time."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from mailer.models import DeliveryStatus, SendStatus, SubscriberStatus, UserRole

TOKYO = ZoneInfo("Asia/Tokyo")

SEND_LABELS = {
    SendStatus.SCHEDULED: "予約済み", SendStatus.RUNNING: "送信中", SendStatus.PAUSED: "一時停止",
    SendStatus.DONE: "完了", SendStatus.CANCELLED: "取り消し",
}
#: a part's state as listings derive it (mailer.services.listings.PartState values)
PART_STATE_LABELS = {"unsent": "未配信", "scheduled": "配信予定", "sent": "配信済み"}
DELIVERY_LABELS = {
    DeliveryStatus.PENDING: "未送信", DeliveryStatus.SENDING: "送信処理中",
    DeliveryStatus.SENT: "送信済み", DeliveryStatus.DEFERRED: "再試行待ち",
    DeliveryStatus.FAILED: "失敗", DeliveryStatus.SKIPPED: "対象外（停止・抑止）",
    DeliveryStatus.CANCELLED: "取り消し",
    DeliveryStatus.UNKNOWN: "結果不明（SMTP 応答なし）",
}
SUBSCRIBER_LABELS = {
    SubscriberStatus.ACTIVE: "配信中", SubscriberStatus.UNSUBSCRIBED: "配信停止",
    SubscriberStatus.BOUNCED: "不達", SubscriberStatus.COMPLAINED: "苦情",
}
ROLE_LABELS = {
    UserRole.EDITOR: "編集", UserRole.APPROVER: "承認", UserRole.LIST_ADMIN: "名簿管理",
    UserRole.VIEWER: "閲覧", UserRole.ADMIN: "管理者",
}


def tokyo(value: datetime | None, *, seconds: bool = False) -> str:
    """Return `value` as Tokyo wall time ("2026-12-01 09:00"), "—" for None."""
    if value is None:
        return "—"
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    if value.tzinfo is None:  # SQLite hands back naive values; they are UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(TOKYO).strftime(fmt)
