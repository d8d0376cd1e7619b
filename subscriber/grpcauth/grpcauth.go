// Package grpcauth brings the subscriber's authentication to gRPC servers: unary and stream server
// interceptors that verify the access token in the "authorization" metadata ("Bearer <token>"),
// check it for revocation, and put the claims in the context (subscriber.ClaimsFrom). It is a
// separate package so that HTTP-only services never compile gRPC.
package grpcauth

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/revocast/revocast/subscriber"
)

// authenticate returns ctx with the verified claims, or a gRPC status error: Unauthenticated for
// any token failure (revoked included), Unavailable when the subscriber is stale and the
// authenticator fails closed.
func authenticate(ctx context.Context, a *subscriber.Authenticator) (context.Context, error) {
	var token string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("authorization"); len(v) > 0 {
			scheme, cred, ok := strings.Cut(v[0], " ")
			if ok && strings.EqualFold(scheme, "Bearer") {
				token = strings.TrimSpace(cred)
			}
		}
	}
	if token == "" {
		return nil, status.Error(codes.Unauthenticated, "no access token")
	}
	c, err := a.Authenticate(ctx, token)
	if err != nil {
		if errors.Is(err, subscriber.ErrStale) {
			return nil, status.Error(codes.Unavailable, "revocation state is stale")
		}
		return nil, status.Error(codes.Unauthenticated, subscriber.Describe(err))
	}
	return subscriber.WithClaims(ctx, c), nil
}

// UnaryServerInterceptor authenticates every unary call with a.
func UnaryServerInterceptor(a *subscriber.Authenticator) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := authenticate(ctx, a)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor authenticates every stream with a when it opens.
func StreamServerInterceptor(a *subscriber.Authenticator) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := authenticate(ss.Context(), a)
		if err != nil {
			return err
		}
		return handler(srv, &stream{ServerStream: ss, ctx: ctx})
	}
}

// stream is a ServerStream whose Context carries the claims.
type stream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *stream) Context() context.Context { return s.ctx }
