"""Paper for the box: the label, the CN22/CN23 customs form and the commercial invoice of an order, as PDF.

- facts.py: what the order's timeline says customs and postal decided (the form, the carrier, the tax assessed);
- rules.py: which document an order can have now, and why not (pure);
- fonts.py / drawing.py: text in Latin and Chinese script, wrapped and fitted, and the table and box helpers;
- label.py, cn_form.py, invoice.py: one renderer per document (reportlab, Code 128 built in);
- documents.py: the use cases (one document, a batch) and repository.py their queries; api.py the endpoints.
"""
