/// `JSON` lives in its own module so clients (kithctl, reports) can use it
/// without the protocol; re-exported so code that imports KithCore keeps it.
@_exported import KithJSON
