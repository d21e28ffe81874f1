"""Bot deactivation, whatever path takes it (the admin's is_active box, chat's
user_deactivate, a shell): every save of an inactive bot revokes what it held."""

from typing import Any

from django.contrib.auth.models import User
from django.db.models.signals import post_save
from django.dispatch import receiver

from integrations import bots


@receiver(post_save, sender=User, dispatch_uid="integrations.bot_deactivated")
def user_saved(sender: type[User], instance: User, created: bool, raw: bool, **kwargs: Any) -> None:
    # Only inactive saves pay the profile lookup; revoking twice is harmless.
    if not instance.is_active and not raw and not created and bots.is_bot(instance.pk):
        bots.bot_revoke_all(bot=instance)
