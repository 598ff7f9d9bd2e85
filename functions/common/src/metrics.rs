//! Custom metrics in CloudWatch embedded metric format: one JSON log line with an `_aws` member, namespace
//! `$SLUICE_METRICS_NAMESPACE`, an empty dimension set so the template's alarms find them.

use serde_json::{json, Value};

/// The EMF document for one metric value at `now_ms`.
pub fn emf(namespace: &str, name: &str, unit: &str, value: f64, now_ms: i64) -> Value {
    json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [[]],
                "Metrics": [{"Name": name, "Unit": unit}],
            }],
        },
        name: value,
    })
}

/// Writes the metric to standard output, where Lambda's log capture finds it.
pub fn emit(namespace: &str, name: &str, unit: &str, value: f64, now_ms: i64) {
    println!("{}", emf(namespace, name, unit, value, now_ms));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_line_has_an_empty_dimension_set_and_the_value() {
        let line = emf("Sluice/s", "ExecutionsFailed", "Count", 1.0, 5);
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "Sluice/s"
        );
        assert_eq!(line["ExecutionsFailed"], 1.0);
    }
}
