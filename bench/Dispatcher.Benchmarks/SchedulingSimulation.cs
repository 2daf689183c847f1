using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Grains.Scheduling;

namespace Dispatcher.Benchmarks;

/// <summary>
/// A discrete-event simulation on virtual time of one model's wait list in front of <c>capacity</c> request
/// slots (the replicas' room), with Poisson arrivals and exponential service times (seeded). It drives the
/// production <see cref="WaitList"/> and <see cref="ServiceOrder"/> exactly as the model grain does: refuse
/// a token's request when it already has <c>threshold</c> waiting (429), grant the head while a slot is free,
/// release at completion, drop requests past the queue timeout (503).
/// </summary>
internal static class SchedulingSimulation
{
    /// <summary>A class of traffic: <paramref name="Tokens"/> tokens of one weight sharing a Poisson arrival rate.</summary>
    public sealed record Load(string Name, int Weight, double RatePerSecond, int Tokens = 1);

    public sealed class TokenResult
    {
        public int Arrived { get; set; }

        public int Granted { get; set; }

        public int TimedOut { get; set; }

        public int Rejected { get; set; }

        public List<double> Waits { get; } = [];

        public double Percentile(double p)
        {
            if (Waits.Count == 0)
            {
                return double.NaN;
            }

            Waits.Sort();
            return Waits[Math.Min(Waits.Count - 1, (int)Math.Ceiling(p * Waits.Count) - 1)];
        }
    }

    public static Dictionary<string, TokenResult> Run(ServiceOrder order, int capacity, double meanServiceSeconds, Load[] loads,
        double seconds, double queueTimeoutSeconds, int threshold, int seed)
    {
        var random = new Random(seed);
        var frequency = TimeProvider.System.TimestampFrequency;
        var epoch = DateTimeOffset.UnixEpoch;
        var list = new WaitList(order);
        var results = loads.ToDictionary(l => l.Name, _ => new TokenResult());
        var loadOf = loads.SelectMany(l => Enumerable.Range(0, l.Tokens).Select(i => ($"{l.Name}#{i}", l.Name))).ToDictionary(p => p.Item1, p => p.Item2);
        var waitingOf = loadOf.Keys.ToDictionary(t => t, _ => 0);
        var arrivals = new Dictionary<Waiter, double>();
        var byDeadline = new Queue<Waiter>();
        var events = new PriorityQueue<(Load? Arrival, Waiter? Done), double>();
        foreach (var load in loads)
        {
            events.Enqueue((load, null), Exponential(random, 1 / load.RatePerSecond));
        }

        var free = capacity;
        long sequence = 0;
        while (events.TryDequeue(out var next, out var now) && now <= seconds)
        {
            if (next.Arrival is { } load)
            {
                var token = $"{load.Name}#{random.Next(load.Tokens)}";
                results[load.Name].Arrived++;
                events.Enqueue((load, null), now + Exponential(random, 1 / load.RatePerSecond));
                if (waitingOf[token] >= threshold)
                {
                    results[load.Name].Rejected++;
                }
                else
                {
                    var waiter = new Waiter(new LeaseRequest($"r{sequence}", token, load.Weight), ++sequence,
                        (long)(now * frequency), epoch.AddSeconds(now + queueTimeoutSeconds));
                    arrivals[waiter] = now;
                    waitingOf[token]++;
                    list.Add(waiter);
                    byDeadline.Enqueue(waiter);
                }
            }
            else
            {
                var done = next.Done!;
                free++;
                list.Released(done.Request.TokenId, done.Request.Priority, done.Cost, null);
            }

            // The grain's timeout timer: requests past their deadline leave at once (503).
            while (byDeadline.TryPeek(out var oldest) && (!oldest.IsWaiting || oldest.Deadline < epoch.AddSeconds(now)))
            {
                byDeadline.Dequeue();
                if (oldest.IsWaiting)
                {
                    list.Remove(oldest);
                    waitingOf[oldest.Request.TokenId]--;
                    results[loadOf[oldest.Request.TokenId]].TimedOut++;
                    arrivals.Remove(oldest);
                }
            }

            while (free > 0 && list.TryPeekNext(out var head))
            {
                var result = results[loadOf[head.Request.TokenId]];
                waitingOf[head.Request.TokenId]--;
                list.Grant(head);
                free--;
                result.Granted++;
                result.Waits.Add(now - arrivals[head]);
                arrivals.Remove(head);
                events.Enqueue((null, head), now + Exponential(random, meanServiceSeconds));
            }
        }

        return results;
    }

    private static double Exponential(Random random, double mean) => -mean * Math.Log(1 - random.NextDouble());
}
