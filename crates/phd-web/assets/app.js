// Progressive enhancement only: every page works without this script (the server renders the
// state so far and a <noscript> refresh takes over). With it: live purchase progress over
// Server-Sent Events, live erasure confirmations.
"use strict";
(function () {
  function stepText(e) {
    switch (e.step) {
      case "paying": return "Paying into escrow…";
      case "waiting_for_shares": return "Escrow open as purchase " + e.purchase_id + "; waiting for " + e.threshold + " key shares";
      case "share_checked": return "Share " + e.share_index + " from keeper " + e.keeper + (e.valid ? " verified" : " INVALID");
      case "key_reconstructed": return "Key reconstructed from shares " + e.shares_used.join(", ");
      case "downloaded": return "Downloaded " + e.bytes + (e.total ? " of " + e.total : "") + " bytes";
      case "chunks_verified": return "Verified " + e.chunks + " of " + e.total + " chunks against the on-chain root";
      case "decrypted": return "Decrypted " + e.bytes + " bytes";
      case "done": return "File ready (" + e.bytes + " bytes)";
      case "confirmed": return "Receipt confirmed on-chain; the sale is settled";
      case "failed": return "Failed: " + e.message;
      default: return e.step;
    }
  }
  var job = document.getElementById("job");
  if (job && window.EventSource && job.dataset.finished !== "true") {
    var list = document.getElementById("steps");
    var src = new EventSource(job.dataset.events);
    var seen = Number(job.dataset.seen || 0), n = 0;
    src.onmessage = function (m) {
      var e = JSON.parse(m.data);
      n += 1;
      if (n <= seen) return;
      var li = document.createElement("li");
      li.className = e.step === "failed" ? "failed" : "done";
      li.dataset.step = e.step;
      li.textContent = stepText(e);
      // Byte counters update in place instead of growing the list.
      var last = list.lastElementChild;
      if (last && last.dataset.step === e.step && (e.step === "downloaded" || e.step === "chunks_verified" || e.step === "decrypted")) {
        list.replaceChild(li, last);
      } else {
        list.appendChild(li);
      }
      if (e.step === "confirmed" || e.step === "failed" || e.step === "finished") {
        src.close();
        window.location.reload();
      }
    };
    src.onerror = function () { src.close(); setTimeout(function () { window.location.reload(); }, 1000); };
  }
  var er = document.getElementById("erasures");
  if (er && er.dataset.api && er.dataset.complete !== "true") {
    var timer = setInterval(function () {
      fetch(er.dataset.api, { headers: { Accept: "application/json" } }).then(function (r) { return r.json(); }).then(function (s) {
        er.textContent = s.erasures + "/" + s.keeper_count;
        if (s.erasures >= s.keeper_count) { clearInterval(timer); er.dataset.complete = "true"; window.location.reload(); }
      }).catch(function () {});
    }, 500);
  }
})();
