/**
 * The published JSON Schemas (schema/*.schema.json in the package): the snapshot format and
 * the co-simulation protocol, as `npm run schemas` writes them. A test checks the files in
 * the repository are up to date with the TypeBox schemas the model checks against.
 */
import { SNAPSHOT_SCHEMA, SNAPSHOT_VERSION } from "./snapshot-schema.js";
import { pipeProtocolSchema } from "./cosim-session.js";
import { strip } from "./pipe-schema.js";

/** File name (under schema/) -> its text. */
export function schemaFiles(): Record<string, string> {
  const snapshot = {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: "amd-iommu-model/snapshot.schema.json",
    title: `amd-iommu-model snapshot, version ${SNAPSHOT_VERSION}`,
    ...(strip(SNAPSHOT_SCHEMA) as object),
  };
  return {
    "snapshot.schema.json": JSON.stringify(snapshot, null, 2) + "\n",
    "pipe-protocol.schema.json": JSON.stringify(pipeProtocolSchema(), null, 2) + "\n",
  };
}
