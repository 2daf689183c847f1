using System.Security.Cryptography;
using System.Text;

namespace Dispatcher.Grains.Abstractions.Tokens;

/// <summary>Turns a token secret into its id. Only the id is kept, logged by name only, and used as a key.</summary>
public static class TokenHash
{
    /// <summary>The lowercase hex SHA-256 of the UTF-8 bytes of <paramref name="secret"/> (64 characters).</summary>
    public static string Compute(ReadOnlySpan<char> secret)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        var maxBytes = Encoding.UTF8.GetMaxByteCount(secret.Length);
        var buffer = maxBytes <= 512 ? stackalloc byte[maxBytes] : new byte[maxBytes];
        var length = Encoding.UTF8.GetBytes(secret, buffer);
        SHA256.HashData(buffer[..length], hash);
        CryptographicOperations.ZeroMemory(buffer[..length]);
        return Convert.ToHexStringLower(hash);
    }

    /// <summary>
    /// The display name of a token configured without one: <c>token-</c> and the first 8 hex digits of its id (the hash,
    /// never the secret).
    /// </summary>
    public static string DisplayName(string tokenId) => $"token-{tokenId[..8]}";

    /// <summary>True when <paramref name="value"/> has the shape of a token id (64 lowercase hex digits).</summary>
    public static bool IsTokenId(ReadOnlySpan<char> value)
    {
        if (value.Length != SHA256.HashSizeInBytes * 2)
        {
            return false;
        }

        foreach (var c in value)
        {
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }
}
