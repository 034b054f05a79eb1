/// The release every Kith binary and report names (`--version`), kept in one
/// place so the daemon and the CLI cannot disagree.
public enum KithVersion {
    public static let string = "0.1.0"
}
