// The OpenTelemetry SDK with in-memory exporters: what keyward reports through a real Meter and Tracer.
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";

/** A Meter and a Tracer, and what they recorded: the metrics by name (collected now) and the finished spans. */
export function otel() {
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const spanExporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] });
  return {
    meter: meterProvider.getMeter("keyward"),
    tracer: tracerProvider.getTracer("keyward"),
    async metrics() {
      await reader.forceFlush();
      const out = new Map<string, { value: unknown; attributes: Record<string, unknown> }[]>();
      for (const rm of metricExporter.getMetrics()) {
        for (const sm of rm.scopeMetrics) {
          for (const m of sm.metrics) {
            out.set(
              m.descriptor.name,
              m.dataPoints.map((p) => ({ value: p.value, attributes: p.attributes })),
            );
          }
        }
      }
      metricExporter.reset();
      return out;
    },
    spans: () => spanExporter.getFinishedSpans(),
  };
}
