# A password alone is "Password accepted"; "Signed in" comes after the code step.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0008_card_locked_event"),
    ]

    operations = [
        migrations.AlterField(
            model_name="authevent",
            name="event",
            field=models.CharField(
                choices=[
                    ("login", "Signed in"),
                    ("password_accepted", "Password accepted"),
                    ("login_failed", "Sign-in failed"),
                    ("logout", "Signed out"),
                    ("otp_failed", "Code refused"),
                    ("otp_replay_rejected", "Reused code refused"),
                    ("account_locked", "Account locked"),
                    ("account_unlocked", "Account unlocked"),
                    ("device_added", "Authenticator added"),
                    ("device_removed", "Authenticator removed"),
                    ("password_changed", "Password changed"),
                    ("admin_change", "Admin change"),
                    ("audit_exported", "Audit trail exported"),
                    ("reveal_disowned", "Reveal reported as not you"),
                    ("card_locked", "Card lock at your bank"),
                ],
                max_length=30,
            ),
        ),
    ]
