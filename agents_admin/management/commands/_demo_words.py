"""Vocabulary for generated conversations: support-desk English, common words first (picked Zipf-like)."""

from __future__ import annotations


def _words(text: str) -> list[str]:
    return text.split()


COMMON = _words(
    "the to and a of I you is it for my in that this on with can be have your we are not was do please "
    "thanks thank hello hi help need want would could will just if so but what when how why there here "
    "again still now today yesterday tomorrow already also very really sure ok yes no sorry great"
)

SUPPORT = _words(
    "account password reset login email address order delivery parcel package refund return invoice payment "
    "card charge charged subscription plan upgrade downgrade cancel cancellation billing receipt price discount "
    "coupon shipping tracking number courier warehouse stock item product size colour replacement damaged broken "
    "missing late delayed arrived received sent customer support agent ticket issue problem error message screen "
    "app update install phone laptop router printer battery screen charger cable bluetooth wifi network "
    "connection slow crash freeze restart settings profile username verification code security two factor "
    "authentication locked unlock blocked fraud dispute statement balance transfer bank wallet voucher gift "
    "booking reservation flight hotel seat luggage baggage check schedule appointment confirm confirmation "
    "change update details name phone number city street postcode country region language currency tax vat "
    "warranty guarantee repair technician visit engineer manual instructions guide steps step first then "
    "finally weather forecast rain sunny temperature tool function call result summary escalate manager "
    "complaint feedback review rating experience quality service team response answer question thanks"
)

RARE = _words(
    "zeppelin quasar obsidian marmalade kaleidoscope labyrinth narwhal saxophone tundra xylophone "
    "aubergine bergamot cinnabar dirigible ephemeral filigree gossamer hinterland isthmus juniper"
)

OPENERS = (
    "Hello, ",
    "Hi there. ",
    "Thanks for getting back to me. ",
    "Sorry to bother you again, ",
    "",
    "",
    "Quick question: ",
)
ANSWERS = (
    "I can help with that. ",
    "Thanks for the details. ",
    "I have checked your account. ",
    "Let me look into this for you. ",
    "Here is what I found: ",
)
