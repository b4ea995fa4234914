using Joules.Parquet;
using Joules.Replay;
using Joules.Simulation;

namespace Joules.Validation;

/// <summary>A measured run folder read back: its metadata, its request rows and its power samples (the files `joules replay --out` wrote).</summary>
public sealed class MeasuredRun
{
    private MeasuredRun(string folder, RunMetadata meta, List<RequestResult> requests, List<PowerSample> power, Dictionary<long, long> queueOrder)
    {
        QueueOrder = queueOrder;
        Folder = folder;
        Metadata = meta;
        Requests = requests;
        Power = power;
    }

    public string Folder { get; }
    public RunMetadata Metadata { get; }
    public IReadOnlyList<RequestResult> Requests { get; }
    public IReadOnlyList<PowerSample> Power { get; }
    /// <summary>Request id to its place in the endpoint's queue (queue-order.parquet); empty when the endpoint did not say.</summary>
    public IReadOnlyDictionary<long, long> QueueOrder { get; }

    public static MeasuredRun Load(string folder)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{folder}: no such folder (give a folder written by `joules replay --out`)");
        var meta = RunMetadata.Load(folder);
        var requests = new List<RequestResult>();
        var rq = Path.Combine(folder, "requests.parquet");
        if (!File.Exists(rq)) throw new FileNotFoundException($"{rq} does not exist: the run folder is incomplete", rq);
        using (var r = ParquetFileReader.Open(rq))
            foreach (var g in r.ReadRowGroups(["request_id", "arrival_s", "first_token_s", "done_s", "input_tokens", "output_tokens", "rejected", "reject_reason"]))
            {
                var id = g.Get<long>("request_id"); var arr = g.Get<double>("arrival_s"); var ft = g.Get<double>("first_token_s"); var done = g.Get<double>("done_s");
                var inp = g.Get<int>("input_tokens"); var outp = g.Get<int>("output_tokens"); var rej = g.Get<bool>("rejected"); var why = g.Get<string>("reject_reason");
                for (var i = 0; i < g.RowCount; i++)
                {
                    var reason = !rej[i] ? RejectReason.None : why[i] == RejectReasons.Name(RejectReason.MaxModelLen) ? RejectReason.MaxModelLen : RejectReason.Failed;
                    requests.Add(new RequestResult(id[i], 0, arr[i], arr[i], ft[i], done[i], inp[i], outp[i], 0, double.NaN, reason));
                }
            }
        var power = new List<PowerSample>();
        var pw = Path.Combine(folder, "power.parquet");
        if (File.Exists(pw))
            using (var r = ParquetFileReader.Open(pw))
                foreach (var g in r.ReadRowGroups(["instance", "start_s", "end_s", "energy_j"]))
                {
                    var inst = g.Get<int>("instance"); var s = g.Get<double>("start_s"); var e = g.Get<double>("end_s"); var j = g.Get<double>("energy_j");
                    for (var i = 0; i < g.RowCount; i++) power.Add(new PowerSample(inst[i], s[i], e[i], j[i], double.NaN));
                }
        var order = new Dictionary<long, long>();
        var qo = Path.Combine(folder, ReplayOutputs.QueueOrderFile);
        if (File.Exists(qo))
            using (var r = ParquetFileReader.Open(qo))
                foreach (var g in r.ReadRowGroups(["request_id", "queue_order"]))
                {
                    var id = g.Get<long>("request_id"); var q = g.Get<long>("queue_order");
                    for (var i = 0; i < g.RowCount; i++) order[id[i]] = q[i];
                }
        return new MeasuredRun(folder, meta, requests, power, order);
    }

    /// <summary>
    /// The requests in the order the endpoint queued them, at the times they were sent: the k-th queued gets the k-th
    /// earliest send time, so the simulation admits in the server's order with the run's arrival pattern. Requests the
    /// endpoint gave no place (refused ones) keep their send time and go after those sent at the same time.
    /// </summary>
    public IEnumerable<Joules.Traces.TraceRequest> ReceivedTrace()
    {
        if (QueueOrder.Count == 0)
            throw new InvalidDataException($"{Folder}: the run has no {ReplayOutputs.QueueOrderFile} (the endpoint did not number its queue; `joules serve` does): use --arrivals trace or sent");
        var placed = Requests.Where(r => QueueOrder.ContainsKey(r.RequestId)).OrderBy(r => QueueOrder[r.RequestId]).ToList();
        var times = placed.Select(r => r.ArrivalS).Order().ToList();
        var result = placed.Select((r, k) => new Joules.Traces.TraceRequest(r.RequestId, (long)Math.Round(times[k] * 1e6), r.InputTokens, r.OutputTokens))
            .Concat(Requests.Where(r => !QueueOrder.ContainsKey(r.RequestId))
                .Select(r => new Joules.Traces.TraceRequest(r.RequestId, (long)Math.Round(r.ArrivalS * 1e6), r.InputTokens, r.OutputTokens)));
        // Stable: equal times keep the queue order.
        return result.OrderBy(t => t.ArrivalMicros).ToList();
    }

    /// <summary>The requests as the simulator replays them, with arrival = the time they were actually sent.</summary>
    public IEnumerable<Joules.Traces.TraceRequest> SentTrace() =>
        Requests.OrderBy(r => r.ArrivalS).Select(r => new Joules.Traces.TraceRequest(r.RequestId, (long)Math.Round(r.ArrivalS * 1e6), r.InputTokens, r.OutputTokens));
}
