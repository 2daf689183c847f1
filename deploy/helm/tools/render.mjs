// Renders (or lints) the chart with helm and validates every object against the Kubernetes schemas.
// Usage: node render.mjs template|lint <chart> [values.yaml ...]   ->   JSON on stdout:
//   { ok, error?, objects?, errors?, manifest? }  where errors lists the objects that fail their schema and
//   manifest is helm's output (release name "dispatcher").
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const [mode, chart, ...values] = process.argv.slice(2);
const helm = fileURLToPath(new URL("./node_modules/.bin/helm", import.meta.url));
const args = [mode === "lint" ? "lint" : "template", ...(mode === "lint" ? [] : ["dispatcher"]), chart, ...values.flatMap(v => ["-f", v])];

let output;
try {
  output = execFileSync(helm, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: `${e.stderr ?? ""}${e.stdout ?? ""}` }));
  process.exit(0);
}

if (mode === "lint") {
  console.log(JSON.stringify({ ok: true, output }));
  process.exit(0);
}

const objects = parseAllDocuments(output).map(d => d.toJS()).filter(o => o);
const errors = [];
for (const object of objects) {
  const where = `${object.kind}/${object.metadata?.name}`;
  const [group, version] = object.apiVersion.includes("/") ? object.apiVersion.split("/") : [null, object.apiVersion];
  if (group === "monitoring.coreos.com") {
    // Prometheus Operator kinds are not in kubernetes-models: check their shape only.
    if (!object.metadata?.name || !object.spec) errors.push(`${where}: needs metadata.name and spec`);
    continue;
  }
  try {
    const models = group === "keda.sh" ? "@kubernetes-models/keda" : "kubernetes-models";
    const module = await import(group ? `${models}/${group}/${version}/${object.kind}` : `${models}/${version}/${object.kind}`);
    new module[object.kind](object).validate();
  } catch (e) {
    errors.push(`${where}: ${e.message}`);
  }
}
console.log(JSON.stringify({ ok: true, objects, errors, manifest: output }));
