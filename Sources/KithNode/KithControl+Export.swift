/// The control client, the operator signer and the event-log verifier moved
/// to KithControl (kithctl links them without the daemon); re-exported so
/// code that imports KithNode keeps seeing them.
@_exported import KithControl
