using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Dispatcher.Silo.Cluster;

/// <summary>
/// The stable numbers the cluster agrees on without talking: PostgreSQL advisory-lock keys for models and silos,
/// and rendezvous (highest random weight) placement of a model on a set of silos. SHA-256 based, so every process
/// computes the same values (unlike <see cref="string.GetHashCode()"/>). Pure functions.
/// </summary>
public static class ClusterKeys
{
    /// <summary>The advisory lock a silo holds while it hosts <paramref name="model"/>.</summary>
    public static long ModelLock(string model) => Hash("dispatcher-model\n" + model);

    /// <summary>The advisory lock a silo holds for as long as its database session lives.</summary>
    public static long SiloLock(string siloId) => Hash("dispatcher-silo\n" + siloId);

    /// <summary>
    /// The silo that should host <paramref name="model"/>: the one with the highest weight for the pair. Adding or
    /// removing a silo moves only the models that silo wins or held. Null when there is no silo.
    /// </summary>
    public static string? Preferred(string model, IEnumerable<string> siloIds)
    {
        string? best = null;
        var bestWeight = 0UL;
        foreach (var silo in siloIds)
        {
            var weight = unchecked((ulong)Hash(model + "\n" + silo));
            if (best is null || weight > bestWeight || (weight == bestWeight && string.CompareOrdinal(silo, best) < 0))
            {
                best = silo;
                bestWeight = weight;
            }
        }

        return best;
    }

    private static long Hash(string text)
    {
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(text), digest);
        return BinaryPrimitives.ReadInt64BigEndian(digest);
    }
}
