import KithCore

/// The configuration from environment variables, for containers: every key a flag can set has a
/// variable named after it, `KITH_` and the key in capitals (`data_dir` is `KITH_DATA_DIR`), holding
/// what the flag would (lists comma-separated, `KITH_TAGS` as `KEY=VALUE,...`). `KITH_<KEY>_FILE`
/// names a file holding the value instead (one item per line for lists; blank lines and `#` comments
/// skipped), so secrets such as cluster keys stay out of `docker inspect`. Structured keys (`agents`,
/// `membership`) have no variable: they belong in a `--config` file. Other `KITH_` variables are left
/// alone, since container entrypoints keep their own settings there.
extension NodeConfig {
    /// The variable that sets config `key`.
    public static func environmentVariable(for key: String) -> String {
        "KITH_" + key.uppercased()
    }

    /// Every config key that has a variable, in a fixed order: those of the flags, and `cluster_keys`,
    /// which has no flag (keys in argv would show in `ps`) but may come from `KITH_CLUSTER_KEYS_FILE`.
    public static var environmentKeys: [String] { Set(flagKeys.values).union(["cluster_keys"]).sorted() }

    /// Applies the variables of `environment` that name config keys; returns every problem, each naming
    /// its variable.
    mutating func apply(environment: [String: String], readFile: (String) throws -> String) -> [String] {
        var problems: [String] = []
        for key in NodeConfig.environmentKeys {
            let variable = NodeConfig.environmentVariable(for: key)
            let direct = environment[variable].flatMap { $0.isEmpty ? nil : $0 }
            let path = environment[variable + "_FILE"].flatMap { $0.isEmpty ? nil : $0 }
            if direct != nil, path != nil {
                problems.append("set \(variable) or \(variable)_FILE, not both")
                continue
            }
            let value: String
            if let direct {
                value = direct
            } else if let path {
                do {
                    value = try NodeConfig.listedLines(readFile(path)).joined(separator: ",")
                } catch {
                    problems.append("\(variable)_FILE: cannot read \(path): \(error)")
                    continue
                }
            } else {
                continue
            }
            do throws(ConfigError) {
                if key == "tags" {
                    for pair in value.split(separator: ",") { try apply(key: key, value: .string(String(pair)), fromFlag: true) }
                } else {
                    try apply(key: key, value: .string(value), fromFlag: true)
                }
            } catch {
                problems.append("\(variable): \(error.message)")
            }
        }
        return problems
    }
}
