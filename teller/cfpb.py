"""The CFPB complaint export's column names: what training reads and what the feedback export writes."""

from __future__ import annotations

COMPLAINT_ID = "Complaint ID"
DATE_RECEIVED = "Date received"
PRODUCT = "Product"
ISSUE = "Issue"
NARRATIVE = "Consumer complaint narrative"
TAGS = "Tags"
TAGS_RECORDED = "Tags recorded"  # "No" where the source did not record Tags (vulnerable label unknown)

REQUIRED = (PRODUCT, ISSUE, NARRATIVE)
EXPORT_COLUMNS = (COMPLAINT_ID, DATE_RECEIVED, PRODUCT, ISSUE, NARRATIVE, TAGS, TAGS_RECORDED)
