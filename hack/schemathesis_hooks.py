"""Schemathesis hooks of hack/schemathesis.sh.

Every generated case goes to the contract server's tenant (a random tenantId would only test
the 404), and every POST gets its own Idempotency-Key: the run measures whether the server
accepts the bodies the schema allows, not whether two generated bodies with one name collide
(which the facade answers with 409, by design). Each response is recorded, one JSON line per
case, for the summary (with the body and the answer when the body was not accepted, or always
when NEXUS_ST_KEEP_BODIES is set).
"""

import json
import os
import uuid

import schemathesis

TENANT = os.environ["NEXUS_ST_TENANT"]
RESULTS = os.environ["NEXUS_ST_RESULTS"]


@schemathesis.hook
def before_call(context, case, kwargs):
    case.path_parameters = {**(case.path_parameters or {}), "tenantId": TENANT}
    if case.method.upper() == "POST":
        case.headers = {**(case.headers or {}), "Idempotency-Key": f"st-{uuid.uuid4()}"}


@schemathesis.hook
def after_call(context, case, response):
    record = {"method": case.method.upper(), "status": response.status_code}
    if case.method.upper() == "POST" and (response.status_code != 201 or os.environ.get("NEXUS_ST_KEEP_BODIES")):
        record["body"] = case.body
        record["answer"] = response.text[:2000]
    with open(RESULTS, "a", encoding="utf-8") as out:
        out.write(json.dumps(record, ensure_ascii=True) + "\n")
