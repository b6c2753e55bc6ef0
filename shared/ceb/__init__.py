"""The customs data exchange's service-neutral parts (DOMAIN.md §11): code tables, XSDs, field formats, XML-DSig
signing, receipts, the JSON messages and the transport envelope.

Both sides use them: customs builds, signs and files messages and reads receipts; the sandbox authority reads
filings and builds receipts. Nothing here touches a database or the network.
"""
