"""Governance: what each site's data custodian controls, not the analyst.

* :mod:`.policy` — a site's policy file (disclosure thresholds, recipients, approval) and the
  strictest combination of every site's policy that a cell runs under;
* :mod:`.disclosure` — the policy's rules checked securely on the pooled results before
  anything is released (only a pass/fail bit per rule is opened);
* :mod:`.approvals` — custodian approvals of exact cells, signed with the site's key;
* :mod:`.audit_chain` — the site's audit log as a signed hash chain, and its verification;
* :mod:`.signing` — the site's signing key, derived from its CurveZMQ key.
"""
