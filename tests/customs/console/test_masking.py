"""Personal data masked on the console's pages (services/customs/console/masking.py)."""

from __future__ import annotations

from services.customs.console.masking import mask_email, mask_id_number, mask_name, mask_party, mask_phone


def test_names_keep_the_first_character_of_each_word():
    assert mask_name("Li Lei") == "L• L••"
    assert mask_name("李雷") == "李•"
    assert mask_name("Aynur  Tursun") == "A•••• T•••••"


def test_phones_keep_the_last_four_digits_and_their_shape():
    assert mask_phone("+86 138 0013 8000") == "+•• ••• •••• 8000"
    assert mask_phone("123") == "123"


def test_id_numbers_keep_only_their_last_four_characters():
    assert mask_id_number("11010519491231002X") == "••••••••••••••002X"
    assert mask_id_number("E12345") == "•••••5"


def test_email_keeps_the_domain():
    assert mask_email("jonas.weber@example.de") == "j•••@example.de"
    assert mask_email("no-at-sign") == "••••••"


def test_a_party_keeps_what_routing_needs_readable():
    party = {"name": "Aynur Tursun", "phone": "+86 138 0013 8000", "address": "12 Renmin East Road",
             "city": "Kashgar", "postal_code": "844000", "country": "CN", "email": None, "id_type": "resident_id",
             "id_number": "11010519491231002X"}
    masked = mask_party(party)
    assert masked == {"name": "A•••• T•••••", "phone": "+•• ••• •••• 8000", "address": "••••••", "city": "Kashgar",
                      "postal_code": "844000", "country": "CN", "email": None, "id_type": "resident_id",
                      "id_number": "••••••••••••••002X"}
    assert mask_party(None) is None
