"""The documents as PDF: opened, read, rendered and scanned as a person, a printer and a scanner would."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.orders.domain.factories import ecommerce_parcel, express_parcel, mail_parcel, order_line, party
from tests.orders.paper.papers import CHINESE_ADDRESS, CHINESE_CONSIGNEE, CHINESE_NAME, paper, pdf_of
from tests.orders.paper.pdf import pages

FONTS = ["STSong-Light", "auto"]


def missing(page, *texts: str) -> list[str]:
    """The texts not on the page (whitespace aside: a heading may wrap, a value be drawn in pieces)."""
    return [text for text in texts if "".join(text.split()) not in page.compact_text]  # named (viewer-supplied) and, where the machine has one, embedded


@pytest.mark.parametrize("font", FONTS)
def test_the_label_is_100_by_150_mm_with_a_code_128_that_scans_to_the_tracking_number(font):
    body = mail_parcel(consignee=CHINESE_CONSIGNEE, direction="import",
                       sender=party(name="Almaty Honey LLP"))
    [page] = pages(pdf_of("label", paper(body, customs_form="CN23"), font=font))
    assert (round(page.width_mm, 1), round(page.height_mm, 1)) == (100.0, 150.0)
    assert page.barcodes() == [("Code128", "CP123456785CN")]
    # The number in text under the bars (grouped as UPU S10 prints it), and everything a sorter reads.
    assert "CP 123 456 785 CN" in page.text
    assert missing(page, "MAIL · IMPORT", "CN23", "Carrier CNPOST", "S10 CP · parcel", "FROM", "Almaty Honey LLP",
                     "TO", CHINESE_NAME, CHINESE_ADDRESS, "844000 喀什市", "CHINA (CN)", "Order MAIL-2026-0001",
                     "Weight 1.600 kg", "Tel. 13812345678", "ord_3f9c2a7be1d04c6a8e5f0b12") == []


def test_a_long_waybill_number_shrinks_its_bars_to_fit_and_still_scans():
    number = "SGX2026030100012345678901234567"
    [page] = pages(pdf_of("label", paper(express_parcel(), tracking_number=number, customs_form="express_C",
                                         carrier="SGX")), dpi=300)
    assert page.barcodes() == [("Code128", number)]
    assert number in page.text and "EXPRESS · EXPORT" in page.text and "Customs express_C" in page.text
    assert "S10" not in page.text  # a carrier's waybill number is no S10 id


def test_a_kazakh_consignee_in_cyrillic_is_printed():
    body = mail_parcel(consignee=party(name="Айгерим Нурлановна", address="проспект Абая 52, кв. 14"))
    [page] = pages(pdf_of("label", paper(body)))
    assert "Айгерим Нурлановна" in page.text and "проспект Абая 52, кв. 14" in page.text
    assert "KAZAKHSTAN (KZ)" in page.text


def test_a_batch_is_one_pdf_with_a_page_per_order_in_order():
    first = paper(mail_parcel(), tracking_number="RR287043775IN")
    second = paper(express_parcel(), tracking_number="1Z999AA10123456784", order_id="ord_second")
    found = [p.barcodes() for p in pages(pdf_of("label", first, second))]
    assert found == [[("Code128", "RR287043775IN")], [("Code128", "1Z999AA10123456784")]]


def test_the_cn22_has_the_upu_fields_on_a_label_page():
    body = mail_parcel(mail_product="registered_letter", consignee=CHINESE_CONSIGNEE, contents_type="gift")
    [page] = pages(pdf_of("customs_form", paper(body, customs_form="CN22", tracking_number="RR287043775IN")))
    assert (round(page.width_mm), round(page.height_mm)) == (100, 150)
    text = page.text
    assert missing(page, "CUSTOMS DECLARATION", "CN 22", "Designated operator: CNPOST", "Item No. RR 287 043 775 IN",
                     "Kashgar Silk Road Trading Co., Ltd.", CHINESE_NAME,
                     "Quantity and detailed description of", "HS tariff number (4)", "Origin (5)",
                     "Net weight", "Value (3)", "2 × Men's cotton shirt", "620520", "0.400", "91.00 CNY",
                     "3 × Leather handbag", "42022100", "1.200", "37.05 CNY",
                     "Total weight (kg) (6) 1.600", "Total value (7) 128.05 CNY", "I, the undersigned",
                     "Date and sender's signature (8)", "2026-03-01") == []
    assert "Gift" in text and "Sale of goods" in text  # the categories, one of them crossed


def test_the_cn23_has_the_upu_fields_and_the_item_barcode():
    body = mail_parcel(consignee=CHINESE_CONSIGNEE, freight="30.00", amount_paid="158.05")
    [page] = pages(pdf_of("customs_form", paper(body, customs_form="CN23")))
    assert (round(page.width_mm), round(page.height_mm)) == (210, 297)
    assert page.barcodes() == [("Code128", "CP123456785CN")]
    assert missing(page, "CN 23", "From (sender)", "To (addressee)", CHINESE_NAME, CHINESE_ADDRESS,
                     "Sender's customs reference", "91350100M000100Y43", "Importer's reference",
                     "Detailed description of contents (1)", "Quantity (2)", "HS tariff number (7)",
                     "Country of origin of goods (8)", "Men's cotton shirt (SHIRT-COT-M)", "2 PCE", "China (CN)",
                     "Total gross weight (kg) (4)", "1.600", "Total value (6)", "128.05 CNY",
                     "Postal charges/Fees (9)", "30.00 CNY", "Category of item (10)", "Comments (11)",
                     "Licence (12)", "Certificate (13)", "Invoice (14)", "MAIL-2026-0001",
                     "Office of origin/Date of posting: CNPOST, 2026-03-01", "I certify that the particulars",
                     "Date and sender's signature (15)") == []


def test_lines_that_do_not_fit_continue_on_more_pages_with_the_totals_on_the_last():
    lines = [order_line(line_no=n, sku=f"SKU-{n}", name=f"Item {n}", total_price="45.50", unit_price="22.75")
             for n in range(1, 41)]
    body = mail_parcel(lines=lines, goods_value="1820.00", amount_paid="1820.00")
    cn23 = pages(pdf_of("customs_form", paper(body, customs_form="CN23")))
    assert len(cn23) >= 2
    text = "".join(page.text for page in cn23)
    assert all(f"Item {n} (SKU-{n})" in text for n in range(1, 41))
    assert "Total value (6)" in cn23[-1].text and "1,820.00 CNY" in cn23[-1].text
    assert "Total value (6)" not in cn23[0].text and "Continued, page 2" in cn23[1].text


def test_the_commercial_invoice_of_an_ecommerce_import():
    body = ecommerce_parcel(consignee={**ecommerce_parcel()["consignee"], "name": "王芳"})
    [page] = pages(pdf_of("commercial_invoice", paper(body, customs_form="inventory_list",
                                                      tracking_number="SGX0000000001", carrier="SGX")))
    assert (round(page.width_mm), round(page.height_mm)) == (210, 297)
    assert missing(page, "COMMERCIAL INVOICE", "Invoice No.", "ECOM-2026-0001", "2026-03-01", "SGX0000000001",
                     "Seller / exporter", "Almaty Honey LLP", "Buyer", "Consignee", "王芳",
                     "ID 110105********002X", "Currency", "CNY", "Incoterm", "DDP", "Kazakhstan (KZ)", "China (CN)",
                     "9610", "HS code", "0409000000", "Mountain honey 500 g (HONEY-500)", "2 PCE", "68.00",
                     "136.00", "1905310000", "47.70", "Goods", "183.70 CNY", "Discount", "-5.00 CNY", "Freight",
                     "12.00 CNY", "Tax", "17.81 CNY", "Total", "208.51 CNY", "Total net weight 1.900 kg") == []
    assert "11010519491231002X" not in page.compact_text  # a person's ID is not printed in full


def test_the_invoice_of_an_express_export_is_dap_with_insurance_in_the_total():
    [page] = pages(pdf_of("commercial_invoice", paper(express_parcel(), tracking_number=None, carrier=None)))
    text = page.text
    assert "DAP" in text and "EUR" in text and "Jonas Weber" in text and "Torstraße 101" in text
    assert "not yet issued" in text
    # 245.99 − 10.00 + 25.00 + 5.00 insurance + 0 tax
    assert "265.99 EUR" in text and "Insurance" in text and "5.00 EUR" in text
    assert Decimal("245.99") - 10 + 25 + 5 == Decimal("265.99")
