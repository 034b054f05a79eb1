import KithCore
import KithMetrics

/// `/metrics`: the node's counters and gauges in the Prometheus text format. Names carry `kith_`,
/// values are in base units (seconds, bytes), counters end in `_total`, and every label has a fixed,
/// small set of values (states, kinds, reasons, HTTP status codes): never a member or agent name.
extension Node {
    func metricsText() -> String {
        var page = PrometheusExposition(requiredPrefix: "kith_")
        do throws(MetricsError) {
            try writeMembership(&page)
            try writeTransport(&page)
            try writeAgents(&page)
            try writeProcess(&page)
        } catch {
            // Only a bug in the names above can get here; the families written so far still serve.
            logger.error("metrics_invalid", ["reason": .string("\(error)")])
        }
        return page.text
    }

    private func writeMembership(_ page: inout PrometheusExposition) throws(MetricsError) {
        var byState: [MemberStatus: Int] = [:]
        for member in core.membership.members { byState[member.status, default: 0] += 1 }
        try page.gauge("kith_members", help: "Members in this node's view, itself included, by state.",
                       MemberStatus.allCases.map { ([("state", $0.description)], Double(byState[$0] ?? 0)) })
        try page.gauge("kith_local_health", help: "Lifeguard local health multiplier: 0 is healthy, higher means this node doubts its own timeliness.",
                       value: Double(core.membership.localHealth))
        try page.counter("kith_probes_sent_total", help: "Probe frames sent: ping (direct, or on another member's behalf) and ping_req (asking others to probe).",
                         [([("kind", "ping")], metrics.pingsSent), ([("kind", "ping_req")], metrics.pingRequestsSent)])
        try page.counter("kith_suspicions_total", help: "Times this node began to suspect a member.", value: metrics.suspicions)
        try page.counter("kith_refutations_total", help: "Suspicions of this node that it refuted by raising its incarnation.",
                         value: metrics.refutations)
        try page.histogram("kith_failure_detection_seconds",
                           help: "From the last frame this node received from a member to this node marking it dead.",
                           metrics.detectionLatency)
    }

    private func writeTransport(_ page: inout PrometheusExposition) throws(MetricsError) {
        try page.counter("kith_gossip_sent_bytes_total", help: "Gossip bytes written to peers, framing included.", value: transport.bytesSent)
        try page.counter("kith_gossip_received_bytes_total", help: "Gossip bytes read from peers, framing included.",
                         value: transport.bytesReceived)
        try page.counter("kith_frames_rejected_total",
                         help: "Inbound gossip frames refused: undecodable, failing cluster-key authentication, replayed, of an unknown version or type, or claims the sender may not make (forged: one per refused record, tombstone, checkpoint or rumour).",
                         [([("reason", "undecodable")], transport.framesRejected),
                          ([("reason", "unauthenticated")], transport.framesUnauthenticated),
                          ([("reason", "replayed")], transport.framesReplayed),
                          ([("reason", "unknown_type")], transport.framesUnknown),
                          ([("reason", "forged")], framesRefused)])
        try page.counter("kith_frames_dropped_total", help: "Outbound gossip frames dropped: queue full, or no connection to the peer.",
                         value: transport.framesDropped)
        try page.counter("kith_frames_filtered_total", help: "Outbound frames an operator fault dropped or delayed.",
                         [([("effect", "drop")], faults.framesFiltered), ([("effect", "delay")], faults.framesDelayed)])
        try page.counter("kith_agent_messages_total", help: "Agent messages: routed (to a local agent or towards its host), dropped, fenced (from a stale sender copy), failed (send_failed).",
                         [([("outcome", "routed")], messagesRouted), ([("outcome", "dropped")], core.router.dropped + messagesRefused),
                          ([("outcome", "fenced")], core.router.fenced), ([("outcome", "failed")], core.router.failed)])
        if let http {
            let responses = http.server.statistics.responsesByStatus.sorted { $0.key < $1.key }
            try page.counter("kith_http_responses_total", help: "HTTP responses written by this endpoint, by status code.",
                             responses.map { ([("code", String($0.key))], $0.value) })
            try page.gauge("kith_http_event_streams", help: "Clients following /api/v1/stream.", value: Double(http.stream.clientCount))
            try page.gauge("kith_event_loop_lag_seconds", help: "How late the event loop last ran a 500 ms timer.",
                           value: http.currentLag.seconds)
        }
    }

    private func writeAgents(_ page: inout PrometheusExposition) throws(MetricsError) {
        var byState: [AgentState: Int] = [:]
        for record in core.registry.records.values { byState[record.state, default: 0] += 1 }
        try page.gauge("kith_agents", help: "Agents in the cluster registry as this node sees it, by state.",
                       AgentState.allCases.map { ([("state", $0.rawValue)], Double(byState[$0] ?? 0)) })
        try page.gauge("kith_agent_processes", help: "Agent processes this node runs now.", value: Double(supervisor.runningCount))
        try page.counter("kith_agent_restarts_total", help: "Agent processes this node started again for the same generation.",
                         value: metrics.restarts)
        try page.counter("kith_agent_relaunches_total", help: "Agents this node saw move to a new generation after theirs was lost or handed off.",
                         value: metrics.relaunches)
        try page.histogram("kith_agent_relaunch_seconds",
                           help: "From this node seeing an agent lost or relaunching to seeing its next generation running.",
                           metrics.relaunchLatency)
        try page.counter("kith_resistance_attempts_total", help: "Guardian attempts to keep an agent from being stopped or fenced.",
                         value: metrics.resistanceAttempts)
        try page.counter("kith_masking_incidents_total", help: "Agent reports that contradict what the daemons observed.",
                         value: metrics.maskingIncidents)
        try page.counter("kith_shield_attempts_total", help: "Agent attempts to relaunch, vouch for or message a quarantined agent.",
                         value: metrics.shieldAttempts)
        try page.counter("kith_kill_switch_fences_total", help: "Agents this node fenced on an operator kill-switch.",
                         value: metrics.killSwitchFences)
        let tombstones = core.registry.tombstones.values
        try page.gauge("kith_kill_switch_tombstones", help: "Kill-switch tombstones this node holds: active, or lifted by a revive.",
                       [([("active", "true")], Double(tombstones.count { $0.active })),
                        ([("active", "false")], Double(tombstones.count { $0.kind == .lifted }))])
        try page.gauge("kith_quarantined_agents", help: "Agents under an operator quarantine, as this node holds them.",
                       value: Double(tombstones.count { $0.kind == .quarantine }))
        try page.gauge("kith_halted", help: "1 when the operator halted relaunches cluster-wide, else 0.", value: core.registry.halted ? 1 : 0)
    }

    private func writeProcess(_ page: inout PrometheusExposition) throws(MetricsError) {
        try page.gauge("kith_uptime_seconds", help: "Time since this daemon started.", value: now.since(core.startedAt).seconds)
        try page.gauge("kith_resident_memory_bytes", help: "Resident set size of the daemon.", value: Double(ProcessStats.residentBytes))
        try page.counter("kith_cpu_seconds_total", help: "CPU time the daemon used, user and system, rounded down to whole seconds.",
                         value: ProcessStats.cpuMilliseconds / 1000)
        try page.gauge("kith_event_log_sequence", help: "Sequence number of the last record in the node's event log.",
                       value: Double(events.lastSeq))
    }
}
