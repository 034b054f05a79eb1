/// A lab of daemons that outlives kithctl, recorded in its directory
/// (`lab.json`): one kind per way of running the daemons, on loopback
/// (`LocalLab`), one network namespace per daemon (`NetnsLab`) or one
/// container per daemon (`DockerLab`); `lab status`, `down` and `start` reach every
/// kind through `LabKinds.recorded(in:)` without knowing which it is.
package protocol LabKind {
    /// Whether the lab recorded in `directory` (if any) is of this kind.
    static func isRecorded(in directory: String) -> Bool
    /// Each daemon's pid, addresses and process state, as a table or JSON.
    static func status(directory: String, json: Bool) throws
    /// Stops every daemon and removes whatever the lab set up.
    static func down(directory: String) throws
    /// Starts the stopped or killed daemon `name` again with its recorded arguments.
    static func start(_ name: String, directory: String) throws
}

package enum LabKinds {
    /// Most specific first: a container lab's lab.json is a netns record, and a netns lab's
    /// record is also a loopback lab's record with more in it.
    package static var all: [any LabKind.Type] { [DockerLab.self, NetnsLab.self, LocalLab.self] }

    /// The kind of lab recorded in `directory` (a loopback lab when nothing more specific is there).
    package static func recorded(in directory: String) -> any LabKind.Type {
        all.first { $0.isRecorded(in: directory) } ?? LocalLab.self
    }
}
