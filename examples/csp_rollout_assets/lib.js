// The second origin's script (examples/csp_rollout.py): marks the page when it ran.
document.body.dataset.lib = "ran";
