// The Files view: stored files newest first with size, type, age and a preview of images;
// upload (an upload URL from a system mutation, then a POST of the bytes) and delete.
import { useRef, useState } from "react";
import { useAction, useMutation, useQuery } from "convex/react";
import { ConfirmButton, Head, InlineError, Loading, Pager, useAttempt, usePager } from "./common.jsx";
import { api, formatAge, formatBytes } from "./values.js";

export default function Files() {
  const pager = usePager("files");
  const result = useQuery(api.files.list, { paginationOpts: { numItems: 25, cursor: pager.cursor } });
  const uploadUrl = useMutation(api.files.upload_url);
  const remove = useAction(api.files.delete);
  const input = useRef(null);
  const { error, attempt } = useAttempt();
  const [status, setStatus] = useState(null);

  const upload = async (event) => {
    const chosen = [...event.target.files];
    const done = await attempt(async () => {
      for (const file of chosen) {
        setStatus(`Uploading ${file.name}…`);
        const reply = await fetch(await uploadUrl({}), {
          method: "POST",
          headers: { "Content-Type": file.type || "application/octet-stream" },
          body: file,
        });
        const body = await reply.json().catch(() => ({}));
        if (!reply.ok) throw new Error(body.message || `The upload failed: ${reply.status}`);
        setStatus(`Uploaded ${file.name} as ${body.storageId}.`);
      }
    });
    if (!done) setStatus(null);
    if (input.current) input.current.value = "";
  };

  return (
    <section className="files" aria-label="Files">
      <header className="view-header">
        <h1>Files</h1>
        <label className="button primary">
          Upload files
          <input ref={input} type="file" multiple onChange={upload} className="sr-only" aria-label="Upload files" />
        </label>
        {status && <span className="hint" role="status">{status}</span>}
      </header>
      <InlineError error={error} />
      {result === undefined ? (
        <Loading what="Loading files" />
      ) : result.page.length === 0 ? (
        <p className="empty">No files stored.</p>
      ) : (
        <>
          <table className="grid" aria-label="Stored files">
            <Head names={["Preview", "Storage id", "Size", "Type", "Uploaded", ""]} />
            <tbody>
              {result.page.map((f) => (
                <tr key={f._id} data-id={f._id}>
                  <td className="preview">
                    {(f.contentType ?? "").startsWith("image/") ? <img src={f.url} alt={`Preview of ${f._id}`} loading="lazy" /> : <span className="hint">–</span>}
                  </td>
                  <td><a href={f.url} target="_blank" rel="noreferrer"><code>{f._id}</code></a></td>
                  <td>{formatBytes(f.size)}</td>
                  <td>{f.contentType ?? "unknown"}</td>
                  <td title={new Date(f._creationTime).toString()}>{formatAge(f._creationTime)}</td>
                  <td>
                    <ConfirmButton label="Delete" confirm="Delete for good"
                      onConfirm={() => attempt(() => remove({ id: f._id }))} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager pager={pager} result={result} what="files" />
        </>
      )}
    </section>
  );
}
