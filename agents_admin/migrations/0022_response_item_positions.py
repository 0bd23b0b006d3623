"""Where each response stands among its conversation's messages, so the conversation's item list can place its
function calls and function outputs; existing responses are placed from their input messages (or, with none,
after the last message written before them)."""

from django.db import migrations, models


def place_existing_responses(apps, schema_editor):
    Response = apps.get_model("agents_admin", "Response")
    Message = apps.get_model("agents_admin", "Message")
    pending = Response.objects.filter(input_seq__isnull=True).only("id", "thread_id", "input_items", "created_at")
    for response in pending.iterator(chunk_size=500):
        ids = [
            item["id"]
            for item in response.input_items
            if isinstance(item, dict) and item.get("type") == "message" and item.get("id")
        ]
        seqs = list(Message.objects.filter(thread_id=response.thread_id, pk__in=ids).values_list("seq", flat=True))
        if seqs:
            input_seq, after_seq = min(seqs) - 1, max(seqs)
        else:
            earlier = Message.objects.filter(thread_id=response.thread_id, created_at__lte=response.created_at)
            input_seq = after_seq = earlier.order_by("-seq").values_list("seq", flat=True).first() or 0
        Response.objects.filter(pk=response.pk).update(input_seq=input_seq, after_seq=after_seq)


class Migration(migrations.Migration):
    dependencies = [
        ("agents_admin", "0021_message_comments_saved_views"),
    ]

    operations = [
        migrations.AddField(
            model_name="response",
            name="after_seq",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="response",
            name="input_seq",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="response",
            index=models.Index(fields=["thread", "input_seq"], name="response_thread_input_seq"),
        ),
        migrations.RunPython(place_existing_responses, migrations.RunPython.noop, elidable=True),
    ]
