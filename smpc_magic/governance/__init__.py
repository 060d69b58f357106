"""Governance: what each site's data custodian controls, not the analyst.

* :mod:`.policy` — a site's policy file (disclosure thresholds, recipients, approval) and the
  strictest combination of every site's policy that a cell runs under;
* :mod:`.disclosure` — the policy's rules checked securely on the pooled results before
  anything is released (only a pass/fail bit per rule is opened);
* :mod:`.approvals` — custodian approvals of exact cells, a hash chain signed with the
  custodian's own key (the kernel holds only its public half);
* :mod:`.audit_chain` — the site's audit log as a signed hash chain, and its verification;
* :mod:`.signing` — the site's audit key (its CurveZMQ key used for Ed25519, so the session
  file's public key verifies the log) and the custodian's separate approval key.
"""
